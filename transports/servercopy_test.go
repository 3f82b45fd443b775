package transports_test

import (
	"context"
	"testing"

	"github.com/vmlua/vmlua/transports"
)

// copier is a ServerCopier of the server named server.
type copier struct {
	transports.Transport
	server string
}

func (c copier) SameServer(session any) bool                         { return session == c.server }
func (copier) CopyVirtualDisk(context.Context, string, string) error { return nil }
func (copier) MoveVirtualDisk(context.Context, string, string) error { return nil }
func (copier) RemoveAll(context.Context, string) error               { return nil }

// wrapped is a wrapper that is no ServerCopier itself.
type wrapped struct{ transports.Transport }

func (w wrapped) Unwrap() transports.Transport { return w.Transport }

func TestServerCopierOf(t *testing.T) {
	plain, _ := newFile(t)
	sc := copier{Transport: plain, server: "vc1"}
	for _, tc := range []struct {
		name    string
		t       transports.Transport
		session any
		want    bool
	}{
		{"a copier of the session's server is found", sc, "vc1", true},
		{"a copier under wrappers is found", wrapped{wrapped{sc}}, "vc1", true},
		{"a copier of another server is not", wrapped{sc}, "vc2", false},
		{"a transport that cannot copy is not", wrapped{plain}, "vc1", false},
		{"no transport is not", nil, "vc1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := transports.ServerCopierOf(tc.t, tc.session)
			if (got != nil) != tc.want {
				t.Errorf("ServerCopierOf = %v, want found=%t", got, tc.want)
			}
		})
	}
}
