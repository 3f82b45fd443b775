package transports

import "context"

// Await runs f, a blocking call of a protocol library that takes no
// context, and returns when it does or when ctx ends, whichever comes
// first: a server that never answers (a named pipe opened on its side, a
// hung mount) cannot hold a run past its context. A result that arrives
// after ctx ended is given to drop (to close what it opened), if drop is
// not nil.
func Await[T any](ctx context.Context, f func() (T, error), drop func(T)) (T, error) {
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	go func() { v, err := f(); ch <- res{v, err} }()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		if drop != nil {
			go func() {
				if r := <-ch; r.err == nil {
					drop(r.v)
				}
			}()
		}
		var zero T
		return zero, ctx.Err()
	}
}
