package transports

import "context"

// A server that cannot rename (S3: an object's key is fixed when its
// upload starts, and copying it under another key and deleting the first
// would need delete rights and move every byte again) publishes an upload
// by completing it instead: the multipart upload's completion is the
// rename. For that its Create must know the final name before the first
// byte is sent. CreateAtomic tells it through the context (StagedFinal):
// a transport that stages uploads writes the bytes of temp invisibly under
// the final name, reports them to Stat(temp) once its Writer is closed,
// publishes them on Rename(temp, final) and discards them on Remove(temp).
// Other transports ignore the hint.

type stagedKey struct{}

type staged struct{ temp, final string }

// WithStagedFinal returns ctx telling Create(temp) that the bytes are
// meant for final, to be put there by Rename(temp, final).
func WithStagedFinal(ctx context.Context, temp, final string) context.Context {
	return context.WithValue(ctx, stagedKey{}, staged{temp, final})
}

// StagedFinal returns the final name CreateAtomic gave for temp, if ctx
// carries one (WithStagedFinal).
func StagedFinal(ctx context.Context, temp string) (string, bool) {
	s, ok := ctx.Value(stagedKey{}).(staged)
	if !ok || s.temp != temp {
		return "", false
	}
	return s.final, true
}

// StagedVerifier is an optional interface of a transport whose staged
// uploads cannot be read before they are published (an S3 multipart
// upload's parts cannot be read back before it completes): Verify asks
// the server to confirm what it holds instead of reading it back (S3:
// each part's size and checksum as the server computed them on receipt,
// against what was sent). It returns false when temp is not staged,
// and the upload is then read back as on any transport.
type StagedVerifier interface {
	VerifyStaged(ctx context.Context, temp string) (staged bool, err error)
}
