package s3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vmlua/vmlua/transports"
)

// Defaults of the scheme's options.
const (
	defaultRegion   = "us-east-1"
	defaultPartSize = 8 << 20
	defaultMemory   = 48 << 20
	minPartSize     = 5 << 20 // S3's smallest part but the last
	maxParts        = 10000   // S3's most parts of one upload
	maxPartSize     = 5 << 30 // S3's largest part
	// defaultStaleUploads is twice a run's default timeout: no upload of
	// a live run is that old
	defaultStaleUploads = 24 * time.Hour
)

func init() {
	transports.Register(transports.Scheme{
		Name:        "s3",
		DefaultPort: "",
		URLForm:     "s3://bucket/prefix",
		Help: "Objects in a bucket of any S3-compatible store (AWS, Wasabi, Ceph RGW, MinIO, SeaweedFS, Versity). " +
			"The credential's user is the access key id and its password the secret key; without a credential the standard AWS " +
			"environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), AWS_PROFILE or profile= and the shared config and credentials files are used. " +
			"Folders are prefixes (with an empty \"folder/\" marker object, so an empty folder exists). " +
			"An upload is a multipart upload of the final object, parts sent on every core with their CRC32C (or SHA-256) checked by the server on receipt, " +
			"that is completed only when every byte is there and matches: completion is the rename, so no temporary object ever exists and a failed upload is aborted, parts and all; " +
			"a file smaller than one part waits in memory and is stored with one PUT when complete. Memory per upload is bounded by memory=. " +
			"Parts grow from part_size, doubling every 1000 parts, up to memory/2, so the largest object is about 210 GiB with the defaults (raise memory= for bigger disks: memory=256MiB allows about 860 GiB). " +
			"object_lock= locks every file of a complete set until the date its retention keeps it (S3 Object Lock; the bucket must have it enabled), and prune leaves a locked set alone, saying until when. " +
			"Rename of a finished object is a server-side copy and a delete; Remove deletes every version of a key in a versioned bucket.",
		Exclusive: "a PUT with If-None-Match: * (S3 conditional writes): the server stores the object only if no object has the key, atomically, and answers 412 otherwise. " +
			"AWS S3 has it since August 2024, and Versity's gateway (the tests check it, with 16 runs racing); other stores added it later or not at all, and one that ignores the header would let two runs both take a VM's lock: check that yours answers 412 to a second PUT with If-None-Match: * before relying on the lock.",
		Options: []transports.Option{
			{Name: "region", Default: defaultRegion, Help: "the bucket's region (AWS_REGION and the profile's region when not given)"},
			{Name: "endpoint", Default: "", Help: "the S3 endpoint URL of a store other than AWS, e.g. https://s3.example.net:9000", Origin: true},
			{Name: "path_style", Default: "true with endpoint=", Help: "address the bucket in the path (https://host/bucket/key) rather than the host name; most stores but AWS need it"},
			{Name: "profile", Default: "", Help: "the AWS shared-config profile to take credentials and region from, when no credential is named", Origin: true},
			{Name: "part_size", Default: "8MiB", Help: "the size of the first 1000 parts of an upload (at least 5MiB)"},
			{Name: "memory", Default: "48MiB", Help: "the most part buffers one upload holds; parts are sent concurrently within it, and it caps the part size at memory/2"},
			{Name: "concurrency", Default: "number of cores", Help: "parts of one upload in flight at once"},
			{Name: "checksum", Default: "crc32c", Help: "the checksum every part carries and the server checks: crc32c or sha256"},
			{Name: "object_lock", Default: "", Help: "lock a complete set's files until its retention keeps it: governance or compliance (S3 Object Lock); empty: no lock"},
			{Name: "lock_days", Default: "0", Help: "with object_lock: lock every set at least this many days, whatever its retention says"},
			{Name: "stale_uploads", Default: "24h", Help: "opening the URL aborts the multipart uploads below it started longer ago than this (a process killed mid-upload leaves its parts, invisible and billed); 0 leaves them to the bucket's lifecycle rule"},
			transports.CreateOption,
			transports.BwlimitOption,
		},
		Notes: notes,
		Open:  open,
	})
}

// Config is what Dial needs, for callers that do not go through a URL.
type Config struct {
	Bucket   string
	Prefix   string // the root, "" for the bucket's top; no leading or trailing slash
	Region   string
	Endpoint string // "" for AWS
	// PathStyle addresses the bucket in the URL path.
	PathStyle   bool
	Profile     string
	Credentials transports.Credentials
	PartSize    int64
	Memory      int64
	Concurrency int
	Checksum    string // "crc32c" or "sha256"
	LockMode    string // "", "governance", "compliance"
	LockDays    int
	NoCreate    bool
	// StaleUploads is the age from which Dial aborts the multipart
	// uploads below the prefix; 0: none.
	StaleUploads time.Duration
}

// Transport is a bucket (below a prefix) of an S3 store.
type Transport struct {
	url       string
	cfg       Config
	c         *s3.Client
	versioned bool  // the bucket keeps versions: Remove deletes them all
	listPage  int32 // keys per listing page; 0: the store's default (1000 on AWS)

	mu      sync.Mutex
	pending map[string]*stagedUpload // temp path -> upload waiting for its Rename
}

var (
	_ transports.Transport        = (*Transport)(nil)
	_ transports.ExclusiveCreator = (*Transport)(nil)
	_ transports.StagedVerifier   = (*Transport)(nil)
	_ transports.Retainer         = (*Transport)(nil)
)

func open(ctx context.Context, u *url.URL, opts transports.Options) (transports.Transport, error) {
	cfg, err := parseURL(u, opts)
	if err != nil {
		return nil, err
	}
	t, err := Dial(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("s3 URL %s: %w", transports.Redact(u.String()), err)
	}
	uu := *u
	uu.User = nil
	uu.RawQuery = ""
	t.url = uu.String()
	return t, nil
}

// regionRE is what a region name looks like (AWS's and the stores').
var regionRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// parseSize reads "8MiB", "64M", "1048576".
func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(strings.ToUpper(v))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suf)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a size such as 8MiB")
	}
	return n * mult, nil
}

// parseURL turns an s3:// URL and options into a Config.
func parseURL(u *url.URL, opts transports.Options) (Config, error) {
	red := transports.Redact(u.String())
	bad := func(name, v, want string) error {
		return fmt.Errorf("s3 URL %s: %s=%q: %s", red, name, v, want)
	}
	if u.Opaque != "" || u.Host == "" {
		return Config{}, fmt.Errorf("s3 URL %s: want s3://bucket/prefix", red)
	}
	if u.Port() != "" || u.User != nil {
		return Config{}, fmt.Errorf("s3 URL %s: the host part is the bucket name alone (give the store's address with endpoint=, the keys in a named credential)", red)
	}
	cfg := Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Credentials: opts.Credentials,
		PartSize: defaultPartSize, Memory: defaultMemory, Concurrency: runtime.NumCPU(), Checksum: "crc32c"}
	if cfg.Prefix != "" {
		p, err := transports.CleanPath(cfg.Prefix)
		if err != nil || p != cfg.Prefix {
			return Config{}, fmt.Errorf("s3 URL %s: the prefix %q is not a clean path (no \"..\", \".\" or empty segments)", red, cfg.Prefix)
		}
	}
	cfg.Region = opts.Param(u, "region")
	if cfg.Region != "" && !regionRE.MatchString(cfg.Region) {
		return Config{}, bad("region", cfg.Region, "want a region name such as eu-central-1")
	}
	cfg.Endpoint = opts.Param(u, "endpoint")
	if cfg.Endpoint != "" {
		e, err := url.Parse(cfg.Endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return Config{}, bad("endpoint", cfg.Endpoint, "want an http:// or https:// URL such as https://s3.example.net:9000")
		}
		cfg.PathStyle = true
	}
	if v := opts.Param(u, "path_style"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, bad("path_style", v, "want true or false")
		}
		cfg.PathStyle = b
	}
	cfg.Profile = opts.Param(u, "profile")
	if v := opts.Param(u, "part_size"); v != "" {
		n, err := parseSize(v)
		if err != nil || n < minPartSize || n > maxPartSize {
			return Config{}, bad("part_size", v, "want a size from 5MiB to 5GiB")
		}
		cfg.PartSize = n
	}
	if v := opts.Param(u, "memory"); v != "" {
		n, err := parseSize(v)
		if err != nil {
			return Config{}, bad("memory", v, "want a size such as 64MiB")
		}
		cfg.Memory = n
	}
	if cfg.Memory < 2*cfg.PartSize {
		return Config{}, fmt.Errorf("s3 URL %s: memory=%d is less than two parts of part_size=%d: one part must fill while another is sent", red, cfg.Memory, cfg.PartSize)
	}
	if v := opts.Param(u, "concurrency"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 256 {
			return Config{}, bad("concurrency", v, "want a number from 1 to 256")
		}
		cfg.Concurrency = n
	}
	if v := opts.Param(u, "checksum"); v != "" {
		v = strings.ToLower(v)
		if v != "crc32c" && v != "sha256" {
			return Config{}, bad("checksum", v, "want crc32c or sha256")
		}
		cfg.Checksum = v
	}
	if v := opts.Param(u, "object_lock"); v != "" {
		v = strings.ToLower(v)
		if v != "governance" && v != "compliance" {
			return Config{}, bad("object_lock", v, "want governance or compliance (or leave it out for no lock)")
		}
		cfg.LockMode = v
	}
	if v := opts.Param(u, "lock_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 36500 {
			return Config{}, bad("lock_days", v, "want a number of days from 0 to 36500")
		}
		cfg.LockDays = n
	}
	cfg.StaleUploads = defaultStaleUploads
	if v := opts.Param(u, "stale_uploads"); v != "" {
		d, err := time.ParseDuration(v)
		if v == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			return Config{}, bad("stale_uploads", v, "want a duration such as 24h, or 0")
		}
		cfg.StaleUploads = d
	}
	create, err := opts.Create(u)
	if err != nil {
		return Config{}, fmt.Errorf("s3 URL %s: %w", red, err)
	}
	cfg.NoCreate = !create
	return cfg, nil
}

// Dial makes the client, checks that the bucket is there and reachable
// with the credentials, and makes (or with NoCreate checks) the root.
func Dial(ctx context.Context, cfg Config) (*Transport, error) {
	if cfg.PartSize == 0 {
		cfg.PartSize = defaultPartSize
	}
	if cfg.Memory == 0 {
		cfg.Memory = defaultMemory
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = runtime.NumCPU()
	}
	if cfg.Checksum == "" {
		cfg.Checksum = "crc32c"
	}
	var lo []func(*config.LoadOptions) error
	if cfg.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.Region != "" {
		lo = append(lo, config.WithRegion(cfg.Region))
	}
	cr := cfg.Credentials
	if cr.User != "" || cr.Password != "" {
		if cr.User == "" || cr.Password == "" {
			return nil, fmt.Errorf("credential %q: an S3 credential needs both user (the access key id) and password (the secret access key)", cr.Name)
		}
		lo = append(lo, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cr.User, cr.Password, "")))
	}
	// retries are the shared wrapper's (transports.Retry, Classify) and,
	// for the parts of an upload, transports.Do: one policy for every
	// transport, SlowDown included
	lo = append(lo, config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }))
	awsCfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration (profile %q): %w", cfg.Profile, err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = defaultRegion
	}
	c := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// the checksums are ours: each part carries its CRC32C (or
		// SHA-256) and the server checks it; reads are checked by the
		// callers' sha256
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	t := &Transport{cfg: cfg, c: c, pending: map[string]*stagedUpload{}}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("no S3 credentials: name a credential (credentials=NAME, user = access key id, password = secret key) or set the AWS environment or profile: %w", transports.Permanent(err))
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		err = mapErr(err, "bucket "+cfg.Bucket)
		if errors.Is(err, errNotExistAlias) {
			return nil, fmt.Errorf("%w (vmlua does not create buckets: create it, with object lock enabled if you want locked sets)", err)
		}
		return nil, err
	}
	if v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(cfg.Bucket)}); err == nil {
		t.versioned = v.Status == types.BucketVersioningStatusEnabled || v.Status == types.BucketVersioningStatusSuspended
	}
	if cfg.Prefix != "" {
		if err := t.openRoot(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.StaleUploads > 0 {
		t.abortStale(ctx)
	}
	return t, nil
}

// abortStale aborts the multipart uploads below the prefix that were
// started more than StaleUploads ago: those of a process killed in the
// middle of an upload, which could not abort its own. Best effort: an
// account that may not list or abort them leaves them to the bucket's
// lifecycle rule.
func (t *Transport) abortStale(ctx context.Context) {
	pfx := t.cfg.Prefix
	if pfx != "" {
		pfx += "/"
	}
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(t.cfg.Bucket), Prefix: aws.String(pfx)}
	before := time.Now().Add(-t.cfg.StaleUploads)
	for {
		out, err := t.c.ListMultipartUploads(ctx, in)
		if err != nil {
			return
		}
		for _, u := range out.Uploads {
			if u.Initiated != nil && u.Initiated.Before(before) {
				_ = t.abortUpload(ctx, aws.ToString(u.Key), aws.ToString(u.UploadId))
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// openRoot makes the prefix's folder, or checks it with NoCreate.
func (t *Transport) openRoot(ctx context.Context) error {
	where := "s3://" + t.cfg.Bucket + "/" + t.cfg.Prefix
	if _, err := t.head(ctx, t.cfg.Prefix); err == nil {
		return fmt.Errorf("%s is an object, not a folder: %w", where, transports.Permanent(errors.New("not a folder")))
	} else if !errors.Is(err, errNotExistAlias) && !errors.Is(err, fs.ErrPermission) {
		// (a policy that grants reads below the prefix only refuses a
		// look at the prefix's own key: then it is no object of ours)
		return err
	}
	isDir, err := t.dirExists(ctx, t.cfg.Prefix)
	if err != nil {
		return err
	}
	if isDir {
		return nil
	}
	if t.cfg.NoCreate {
		return transports.MissingFolder(where)
	}
	return t.mkdirKeys(ctx, t.cfg.Prefix)
}

// URL is the URL the transport was opened with, without query.
func (t *Transport) URL() string { return t.url }

// Close ends the uploads still waiting for their Rename (aborting them)
// and releases the client's idle connections.
func (t *Transport) Close() error {
	t.mu.Lock()
	left := t.pending
	t.pending = map[string]*stagedUpload{}
	t.mu.Unlock()
	var errs []error
	for _, s := range left {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs = append(errs, s.discard(ctx))
		cancel()
	}
	return errors.Join(errs...)
}

// withUnsignedPayload sends a request body without signing its sha256
// (a second pass over every byte): its integrity is the part's checksum,
// which the server checks.
var withUnsignedPayload = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
