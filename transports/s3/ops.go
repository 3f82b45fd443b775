package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vmlua/vmlua/transports"
)

// key is the object key of a clean path below the root.
func (t *Transport) key(p string) string {
	if t.cfg.Prefix == "" {
		return p
	}
	if p == "" {
		return t.cfg.Prefix
	}
	return t.cfg.Prefix + "/" + p
}

// clean checks p and returns it clean ("" for the root).
func clean(p string) (string, error) { return transports.CleanPath(p) }

// head is HeadObject of the object at key k (not a marker).
func (t *Transport) head(ctx context.Context, k string) (*s3.HeadObjectOutput, error) {
	out, err := t.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(k)})
	if err != nil {
		return nil, mapErr(err, "s3://"+t.cfg.Bucket+"/"+k)
	}
	return out, nil
}

// dirExists reports whether anything has the key prefix k+"/" (its
// marker or objects below it).
func (t *Transport) dirExists(ctx context.Context, k string) (bool, error) {
	pfx := k + "/"
	if k == "" {
		return true, nil
	}
	out, err := t.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(t.cfg.Bucket), Prefix: aws.String(pfx), MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, mapErr(err, "list s3://"+t.cfg.Bucket+"/"+pfx)
	}
	return len(out.Contents) > 0 || len(out.CommonPrefixes) > 0, nil
}

// staged returns the upload waiting for its Rename under temp, or nil.
func (t *Transport) staged(p string) *stagedUpload {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending[p]
}

// Stat describes a file (an object), a folder (a prefix) or an upload
// waiting for its Rename.
func (t *Transport) Stat(ctx context.Context, p string) (transports.FileInfo, error) {
	c, err := clean(p)
	if err != nil {
		return transports.FileInfo{}, err
	}
	if c == "" {
		return transports.FileInfo{Name: path.Base(t.cfg.Prefix), IsDir: true}, nil
	}
	if s := t.staged(c); s != nil {
		return transports.FileInfo{Name: path.Base(c), Size: s.size}, nil
	}
	k := t.key(c)
	h, err := t.head(ctx, k)
	if err == nil {
		fi := transports.FileInfo{Name: path.Base(c), Size: aws.ToInt64(h.ContentLength)}
		if h.LastModified != nil {
			fi.ModTime = *h.LastModified
		}
		return fi, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return transports.FileInfo{}, err
	}
	isDir, derr := t.dirExists(ctx, k)
	if derr != nil {
		return transports.FileInfo{}, derr
	}
	if isDir {
		return transports.FileInfo{Name: path.Base(c), IsDir: true}, nil
	}
	return transports.FileInfo{}, fmt.Errorf("stat %s: %w", c, fs.ErrNotExist)
}

// List lists a folder: the objects right below its prefix and the
// folders below it (common prefixes), page after page.
func (t *Transport) List(ctx context.Context, p string) ([]transports.FileInfo, error) {
	c, err := clean(p)
	if err != nil {
		return nil, err
	}
	pfx := t.key(c)
	if pfx != "" {
		pfx += "/"
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(t.cfg.Bucket), Prefix: aws.String(pfx), Delimiter: aws.String("/")}
	if t.listPage > 0 {
		in.MaxKeys = aws.Int32(t.listPage)
	}
	var out []transports.FileInfo
	found := c == ""
	pg := s3.NewListObjectsV2Paginator(t.c, in)
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, mapErr(err, "list "+c)
		}
		for _, o := range page.Contents {
			found = true
			name := strings.TrimPrefix(aws.ToString(o.Key), pfx)
			if name == "" || strings.Contains(name, "/") {
				continue // the folder's own marker
			}
			fi := transports.FileInfo{Name: name, Size: aws.ToInt64(o.Size)}
			if o.LastModified != nil {
				fi.ModTime = *o.LastModified
			}
			out = append(out, fi)
		}
		for _, cp := range page.CommonPrefixes {
			found = true
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), pfx), "/")
			if name != "" {
				out = append(out, transports.FileInfo{Name: name, IsDir: true})
			}
		}
	}
	if !found {
		if _, err := t.head(ctx, t.key(c)); err == nil {
			return nil, fmt.Errorf("list %s: a file, not a folder: %w", c, syscall.ENOTDIR)
		}
		return nil, fmt.Errorf("list %s: %w", c, fs.ErrNotExist)
	}
	return out, nil
}

// MkdirAll puts the folder markers ("a/", "a/b/") that are missing. A
// file in the way is an error.
func (t *Transport) MkdirAll(ctx context.Context, p string) error {
	c, err := clean(p)
	if err != nil {
		return err
	}
	if c == "" {
		return nil
	}
	return t.mkdirKeys(ctx, t.key(c))
}

// mkdirKeys puts the markers of k and its parents below the root (the
// root's too when k is the root), deepest first, stopping at one that
// exists.
func (t *Transport) mkdirKeys(ctx context.Context, k string) error {
	var missing []string
	for d := k; d != "" && d != "."; d = path.Dir(d) {
		if t.cfg.Prefix != "" && len(d) < len(t.cfg.Prefix) {
			break
		}
		if _, err := t.head(ctx, d); err == nil {
			return fmt.Errorf("make folder %s: a file has that name: %w", d, fs.ErrExist)
		}
		// listing, not a look at the marker: a policy may grant reads
		// below a prefix only, and the marker may be missing while
		// objects below it exist
		exists, err := t.dirExists(ctx, d)
		if err != nil {
			return err
		}
		if exists {
			break
		}
		missing = append(missing, d+"/")
	}
	for i := len(missing) - 1; i >= 0; i-- {
		_, err := t.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(missing[i]), Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)})
		if err != nil {
			return mapErr(err, "make folder "+missing[i])
		}
	}
	return nil
}

// Rename publishes an upload waiting under from (its multipart upload is
// completed, or its small body put, under to: the staged upload was made
// for to). Any other object is copied on the server and then deleted.
func (t *Transport) Rename(ctx context.Context, from, to string) error {
	cf, err := clean(from)
	if err != nil {
		return err
	}
	ct, err := clean(to)
	if err != nil {
		return err
	}
	if cf == "" || ct == "" {
		return fmt.Errorf("rename %s to %s: the root cannot be renamed or replaced: %w", from, to, transports.ErrInvalidName)
	}
	if s := t.staged(cf); s != nil {
		if s.final != ct {
			return transports.Permanent(fmt.Errorf("rename %s to %s: the upload was started for %s (S3 cannot rename: an upload is published under the name it was started for)", cf, ct, s.final))
		}
		if err := s.publish(ctx); err != nil {
			// (a failed completion aborted the upload: it stays listed
			// until Remove, and a retried Rename says why it cannot)
			return fmt.Errorf("rename %s to %s: %w", cf, ct, err)
		}
		t.mu.Lock()
		delete(t.pending, cf)
		t.mu.Unlock()
		return nil
	}
	fi, err := t.Stat(ctx, cf)
	if err != nil {
		return err
	}
	if fi.IsDir {
		return transports.Permanent(fmt.Errorf("rename %s: a folder: S3 has no folders to rename (each object would be copied)", cf))
	}
	if err := t.copyObject(ctx, t.key(cf), t.key(ct), fi.Size); err != nil {
		return fmt.Errorf("rename %s to %s: %w", cf, ct, err)
	}
	return t.removeKey(ctx, t.key(cf))
}

// copyObject copies src onto dst on the server: one CopyObject up to
// 5 GiB, a multipart copy above.
func (t *Transport) copyObject(ctx context.Context, src, dst string, size int64) error {
	source := t.cfg.Bucket + "/" + (&url.URL{Path: src}).EscapedPath()
	if size <= maxPartSize {
		_, err := t.c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(dst), CopySource: aws.String(source)})
		return mapErr(err, "copy "+src+" to "+dst)
	}
	mp, err := t.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(dst)})
	if err != nil {
		return mapErr(err, "copy "+src+" to "+dst)
	}
	var parts []types.CompletedPart
	const chunk = 1 << 30
	for off, n := int64(0), int32(1); off < size; off, n = off+chunk, n+1 {
		end := min(off+chunk, size) - 1
		out, err := t.c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(dst), UploadId: mp.UploadId,
			PartNumber: aws.Int32(n), CopySource: aws.String(source), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end))})
		if err != nil {
			t.abortUpload(ctx, dst, aws.ToString(mp.UploadId))
			return mapErr(err, "copy "+src+" to "+dst)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.CopyPartResult.ETag})
	}
	_, err = t.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(dst), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.abortUpload(ctx, dst, aws.ToString(mp.UploadId))
		return mapErr(err, "copy "+src+" to "+dst)
	}
	return nil
}

// Remove deletes a file (every version of it in a versioned bucket: a
// delete marker alone would keep its bytes, and its key, taken) or an
// empty folder's marker, or discards an upload waiting for its Rename.
func (t *Transport) Remove(ctx context.Context, p string) error {
	c, err := clean(p)
	if err != nil {
		return err
	}
	if c == "" {
		return fmt.Errorf("remove the root: %w", transports.ErrInvalidName)
	}
	if s := t.staged(c); s != nil {
		t.mu.Lock()
		delete(t.pending, c)
		t.mu.Unlock()
		return s.discard(ctx)
	}
	k := t.key(c)
	if _, err := t.head(ctx, k); err == nil {
		return t.removeKey(ctx, k)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	l, err := t.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(t.cfg.Bucket), Prefix: aws.String(k + "/"), MaxKeys: aws.Int32(2)})
	if err != nil {
		return mapErr(err, "remove "+c)
	}
	switch {
	case len(l.Contents) == 0:
		return fmt.Errorf("remove %s: %w", c, fs.ErrNotExist)
	case len(l.Contents) > 1 || aws.ToString(l.Contents[0].Key) != k+"/":
		return fmt.Errorf("remove %s: the folder is not empty: %w", c, syscall.ENOTEMPTY)
	}
	return t.removeKey(ctx, k+"/")
}

// removeKey deletes key k: in a versioned bucket every version and
// delete marker of exactly k, so that nothing of it is kept.
func (t *Transport) removeKey(ctx context.Context, k string) error {
	if !t.versioned || strings.HasSuffix(k, "/") {
		// a folder marker holds nothing to keep
		_, err := t.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(k)})
		return mapErr(err, "remove "+k)
	}
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(t.cfg.Bucket), Prefix: aws.String(k)}
	var ids []string
	for {
		out, err := t.c.ListObjectVersions(ctx, in)
		if err != nil {
			return mapErr(err, "list the versions of "+k)
		}
		for _, v := range out.Versions {
			if aws.ToString(v.Key) == k {
				ids = append(ids, aws.ToString(v.VersionId))
			}
		}
		for _, m := range out.DeleteMarkers {
			if aws.ToString(m.Key) == k {
				ids = append(ids, aws.ToString(m.VersionId))
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	if len(ids) == 0 {
		return fmt.Errorf("remove %s: %w", k, fs.ErrNotExist)
	}
	for _, id := range ids {
		_, err := t.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(k), VersionId: aws.String(id)})
		if err != nil && codeOf(err) != "NoSuchVersion" { // gone meanwhile
			return mapErr(err, "remove "+k)
		}
	}
	return nil
}

// Open reads an object from offset on.
func (t *Transport) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	c, err := clean(p)
	if err != nil {
		return nil, err
	}
	if c == "" {
		return nil, transports.NotRegular("the root", "a directory")
	}
	if t.staged(c) != nil {
		return nil, transports.Permanent(fmt.Errorf("open %s: an upload not yet complete cannot be read on S3", c))
	}
	k := t.key(c)
	in := &s3.GetObjectInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(k)}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := t.c.GetObject(ctx, in)
	if err == nil {
		return out.Body, nil
	}
	if codeOf(err) == "InvalidRange" || statusOf(err) == 416 {
		if h, herr := t.head(ctx, k); herr == nil && aws.ToInt64(h.ContentLength) == offset {
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
	}
	err = mapErr(err, "open "+c)
	if errors.Is(err, fs.ErrNotExist) {
		if isDir, derr := t.dirExists(ctx, k); derr == nil && isDir {
			return nil, transports.NotRegular(c, "a directory")
		}
	}
	return nil, err
}

// CreateExclusive puts data at p only if no object has its key, with
// If-None-Match: * (S3 conditional writes): the store decides,
// atomically. A folder of that name counts as something there.
func (t *Transport) CreateExclusive(ctx context.Context, p string, data []byte) error {
	c, err := clean(p)
	if err != nil {
		return err
	}
	if c == "" {
		return fmt.Errorf("create the transport's root exclusively: a file name is needed")
	}
	k := t.key(c)
	if isDir, err := t.dirExists(ctx, k); err != nil {
		return err
	} else if isDir {
		return fmt.Errorf("%s is a folder: %w", c, fs.ErrExist)
	}
	in := &s3.PutObjectInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(k), Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), IfNoneMatch: aws.String("*")}
	t.setChecksum(in, data)
	put := func() error {
		in.Body = bytes.NewReader(data)
		_, err := t.c.PutObject(ctx, in, withUnsignedPayload)
		return mapErr(err, c)
	}
	err = put()
	if !errors.Is(err, fs.ErrExist) || !t.versioned {
		return err
	}
	// Some stores refuse If-None-Match on a key whose newest version is a
	// delete marker (a removal by another tool: vmlua's Remove deletes
	// every version): nothing is there, so the key's versions go and the
	// create is tried once more.
	if _, herr := t.head(ctx, k); !errors.Is(herr, fs.ErrNotExist) {
		return err
	}
	if n, derr := t.clearDeleted(ctx, k); derr != nil || n == 0 {
		return err
	}
	return put()
}

// clearDeleted deletes the versions of key k, if its newest is a delete
// marker (the key is deleted but taken), and returns how many went. Only
// the versions listed are deleted, by id: one another client puts
// meanwhile is newer than the list and stays (and then its create has won).
func (t *Transport) clearDeleted(ctx context.Context, k string) (int, error) {
	out, err := t.c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(t.cfg.Bucket), Prefix: aws.String(k)})
	if err != nil {
		return 0, mapErr(err, "list the versions of "+k)
	}
	deleted := false
	var ids []*string
	for _, m := range out.DeleteMarkers {
		if aws.ToString(m.Key) == k {
			ids = append(ids, m.VersionId)
			deleted = deleted || aws.ToBool(m.IsLatest)
		}
	}
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == k {
			if aws.ToBool(v.IsLatest) {
				return 0, nil
			}
			ids = append(ids, v.VersionId)
		}
	}
	if !deleted {
		return 0, nil
	}
	for _, id := range ids {
		if _, err := t.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(k), VersionId: id}); err != nil && codeOf(err) != "NoSuchVersion" {
			return 0, mapErr(err, "remove a version of "+k)
		}
	}
	return len(ids), nil
}
