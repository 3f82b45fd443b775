package s3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// RetentionMode is object_lock= ("governance", "compliance" or "").
func (t *Transport) RetentionMode() string { return t.cfg.LockMode }

// MinRetention is lock_days=.
func (t *Transport) MinRetention() time.Duration {
	return time.Duration(t.cfg.LockDays) * 24 * time.Hour
}

// Retain locks the current version of p until until (PutObjectRetention,
// in the transport's mode). The bucket must have object lock enabled.
func (t *Transport) Retain(ctx context.Context, p string, until time.Time) error {
	if t.cfg.LockMode == "" {
		return fmt.Errorf("lock %s: the transport was opened without object_lock=", p)
	}
	c, err := clean(p)
	if err != nil {
		return err
	}
	mode := types.ObjectLockRetentionModeGovernance
	if t.cfg.LockMode == "compliance" {
		mode = types.ObjectLockRetentionModeCompliance
	}
	u := until.UTC()
	_, err = t.c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(t.key(c)),
		Retention: &types.ObjectLockRetention{Mode: mode, RetainUntilDate: &u}})
	if err != nil {
		err = mapErr(err, "lock "+c)
		if code := codeOf(errors.Unwrap(err)); code == "InvalidRequest" || strings.Contains(err.Error(), "Object Lock") || strings.Contains(err.Error(), "object lock") {
			return fmt.Errorf("%w (the bucket %s must have object lock enabled; it can only be enabled when the bucket is created, or on AWS later for a versioned bucket)", err, t.cfg.Bucket)
		}
		return err
	}
	return nil
}

// RetainedUntil reads p's retention; a zero time when it has none.
func (t *Transport) RetainedUntil(ctx context.Context, p string) (time.Time, string, error) {
	c, err := clean(p)
	if err != nil {
		return time.Time{}, "", err
	}
	out, err := t.c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(t.key(c))})
	if err != nil {
		code := codeOf(err)
		if code == "NoSuchObjectLockConfiguration" || code == "ObjectLockConfigurationNotFoundError" || code == "InvalidRequest" {
			return time.Time{}, "", nil // no lock on it, or none on the bucket
		}
		err = mapErr(err, "read the lock of "+c)
		if errors.Is(err, fs.ErrNotExist) && code != "NoSuchKey" && code != "NoSuchBucket" {
			return time.Time{}, "", nil // 404 for "no retention" (some stores)
		}
		return time.Time{}, "", err
	}
	if out.Retention == nil || out.Retention.RetainUntilDate == nil {
		return time.Time{}, "", nil
	}
	return *out.Retention.RetainUntilDate, strings.ToLower(string(out.Retention.Mode)), nil
}
