package s3

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/vmlua/vmlua/transports"
)

var errNotExistAlias = fs.ErrNotExist

// statusOf is the HTTP status of an S3 error, 0 when there was no answer.
func statusOf(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// codeOf is the S3 error code ("NoSuchKey", "SlowDown"), "" when none.
func codeOf(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// mapErr puts an S3 error onto the sentinels transports.Classify knows,
// with what it concerned: a missing key or bucket is fs.ErrNotExist, a
// failed If-None-Match fs.ErrExist, a refused signature or key ErrAuth,
// a refusal fs.ErrPermission (ErrLocked too when object lock refused
// it), a quota ErrNoSpace; SlowDown, 500 and 503 stay transient, so the
// shared retry wrapper backs off and tries again.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	code, status := codeOf(err), statusOf(err)
	msg := err.Error()
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorMessage() != "" {
		msg = ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	switch {
	case code == "NoSuchKey" || code == "NotFound" || code == "NoSuchUpload" || (status == http.StatusNotFound && code != "NoSuchBucket"):
		return fmt.Errorf("%s: %s: %w", what, msg, fs.ErrNotExist)
	case code == "NoSuchBucket":
		return fmt.Errorf("%s: the bucket does not exist (%s): %w", what, msg, fs.ErrNotExist)
	case code == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		return fmt.Errorf("%s exists (%s): %w", what, msg, fs.ErrExist)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired":
		return fmt.Errorf("%s: the store refused the credentials (%s): check the access key id and secret key: %w", what, msg, transports.ErrAuth)
	case strings.Contains(strings.ToLower(msg), "object lock") || code == "ObjectLocked":
		return fmt.Errorf("%s: %s: %w: %w", what, msg, transports.ErrLocked, fs.ErrPermission)
	case code == "AccessDenied" || code == "AllAccessDisabled" || status == http.StatusForbidden:
		return fmt.Errorf("%s: the store refused it (%s): the credentials lack the permission: %w", what, msg, fs.ErrPermission)
	case code == "QuotaExceeded" || code == "EntityTooLarge" || code == "XMinioStorageFull" || status == http.StatusInsufficientStorage:
		return fmt.Errorf("%s: %s: %w", what, msg, transports.ErrNoSpace)
	case code == "InvalidBucketName" || code == "KeyTooLongError" || code == "InvalidObjectName":
		return fmt.Errorf("%s: %s: %w", what, msg, transports.ErrInvalidName)
	case code == "InvalidArgument" || code == "InvalidRequest" || code == "NotImplemented" || code == "MethodNotAllowed" || code == "MalformedXML" || code == "InvalidPart" || code == "InvalidPartOrder" || code == "EntityTooSmall":
		return transports.Permanent(fmt.Errorf("%s: the store refused the request: %s", what, msg))
	}
	return fmt.Errorf("%s: %w", what, err)
}
