package logattr

import (
	"context"
	"log/slog"
)

// Handler merges the attributes of With and of each record by key before
// passing the record to the handler it wraps.
type Handler struct {
	h       slog.Handler
	attrs   []slog.Attr // With attributes not yet given to h
	grouped bool        // inside a group: the record's own keys cannot collide
}

// Reserved are the keys a handler writes itself (time, level, msg,
// source); an attribute of that name outside any group is written as
// "attr_" + key instead (a script's log.info("x", {level = 3})).
var Reserved = map[string]bool{slog.TimeKey: true, slog.LevelKey: true, slog.MessageKey: true, slog.SourceKey: true}

var _ slog.Handler = (*Handler)(nil)

// New wraps h.
func New(h slog.Handler) *Handler { return &Handler{h: h} }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

// WithAttrs implements slog.Handler: the attributes are kept, to be
// merged with each record's.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{h: h.h, attrs: merge(h.attrs, h.rename(as)), grouped: h.grouped}
}

// WithGroup implements slog.Handler. The attributes so far belong outside
// the group: they are given to the wrapped handler, and merging starts
// again inside the group (keys in different groups do not collide).
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	inner := h.h
	if len(h.attrs) > 0 {
		inner = inner.WithAttrs(h.attrs)
	}
	return &Handler{h: inner.WithGroup(name), grouped: true}
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	own := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool { own = append(own, a); return true })
	n := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	n.AddAttrs(merge(h.attrs, h.rename(own))...)
	return h.h.Handle(ctx, n)
}

// rename moves attributes off the reserved keys.
func (h *Handler) rename(as []slog.Attr) []slog.Attr {
	if h.grouped {
		return as
	}
	var out []slog.Attr
	for i, a := range as {
		if Reserved[a.Key] {
			if out == nil {
				out = append([]slog.Attr(nil), as...)
			}
			out[i].Key = "attr_" + a.Key
		}
	}
	if out == nil {
		return as
	}
	return out
}

// merge returns base then extra with one attribute per key: a key's last
// value, at its first position. Inline groups (an empty key) are kept as
// they are.
func merge(base, extra []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, 0, len(base)+len(extra))
	at := make(map[string]int, len(base)+len(extra))
	for _, list := range [][]slog.Attr{base, extra} {
		for _, a := range list {
			if a.Key == "" {
				out = append(out, a)
				continue
			}
			if i, ok := at[a.Key]; ok {
				out[i] = a
				continue
			}
			at[a.Key] = len(out)
			out = append(out, a)
		}
	}
	return out
}
