package transports

// As returns the first of t and the transports under its wrappers
// (Wrapper) that is a T, as errors.As does for errors: how to find an
// optional interface (ServerCopier) or a wrapper (DryRun) under the
// wrappers a run adds.
func As[T any](t Transport) (T, bool) {
	for t != nil {
		if x, ok := t.(T); ok {
			return x, true
		}
		w, ok := t.(Wrapper)
		if !ok {
			break
		}
		t = w.Unwrap()
	}
	var zero T
	return zero, false
}
