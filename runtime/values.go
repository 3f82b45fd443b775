package runtime

// Key names a per-run value of type T. A module keeps its per-run state
// (the vm module's connections, the transports a run opened) under keys
// it does not export; what another package may read or set goes through
// typed functions of the owning module (vm.Profile, vm.SetQuestionPolicy),
// never through a key another package spells.
//
// Keys are compared by identity: two NewKey calls with the same name are
// two keys. The name only labels the value in log lines.
type Key[T any] struct{ name string }

// NewKey returns a new key; name ("module.what") labels it in log lines.
func NewKey[T any](name string) *Key[T] { return &Key[T]{name: name} }

func (k *Key[T]) keyName() string { return k.name }

// valueKey is any *Key[T], as the run's value map holds them.
type valueKey interface{ keyName() string }

// Get returns the run's value and whether one was stored.
func (k *Key[T]) Get(r *Run) (T, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.values[k].(T)
	return v, ok
}

// Set stores v as the run's value, replacing an earlier one.
func (k *Key[T]) Set(r *Run, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[k] = v
}

// Init returns the run's value, storing mk() first when there is none.
// A value with a Close(context.Context) error method is closed when the
// run ends.
func (k *Key[T]) Init(r *Run, mk func() T) T {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.values[k]; ok {
		return v.(T)
	}
	v := mk()
	r.values[k] = v
	return v
}

// SharedKey names a value of type T shared between the runs of one
// process (a fleet run's vSphere session pool). The owning module exports
// a typed function that puts it into Options (vm.SharePool) and reads it
// with Get.
type SharedKey[T any] struct{ name string }

// NewSharedKey returns a new key; name labels it.
func NewSharedKey[T any](name string) *SharedKey[T] { return &SharedKey[T]{name: name} }

// Set puts v into the options, for every run made from them and from
// copies of them made afterwards (copies made before do not change).
func (k *SharedKey[T]) Set(o *Options, v T) {
	m := make(map[any]any, len(o.shared)+1)
	for key, x := range o.shared {
		m[key] = x
	}
	m[k] = v
	o.shared = m
}

// Get returns the shared value of the run's options and whether there is
// one.
func (k *SharedKey[T]) Get(r *Run) (T, bool) {
	v, ok := r.opts.shared[k].(T)
	return v, ok
}

// From returns the shared value the options hold and whether they hold
// one (the host reads what it shared, before any run exists).
func (k *SharedKey[T]) From(o Options) (T, bool) {
	v, ok := o.shared[k].(T)
	return v, ok
}
