package portmap

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// call encodes an RPC call with AUTH_UNIX credentials (as ESXi sends)
// and the given argument words.
func call(xid, prog, vers, proc uint32, args ...uint32) []byte {
	cred := []uint32{1, 24, 0, 4, 0x65737869, 0, 0, 0} // AUTH_UNIX: stamp, "esxi", uid, gid, no gids
	w := []uint32{xid, msgCall, rpcVersion, prog, vers, proc}
	w = append(w, cred...)
	w = append(w, 0, 0) // verifier AUTH_NULL
	return words(append(w, args...))
}

func start(t *testing.T, allow func(net.Addr) bool) (tcp, udp string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(NFS(2049), nil)
	s.Allow = allow
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l, pc) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String(), pc.LocalAddr().String()
}

func overTCP(t *testing.T, addr string, msg []byte) []uint32 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// two fragments, as a client may send them
	half := len(msg) / 2 &^ 3
	for i, frag := range [][]byte{msg[:half], msg[half:]} {
		h := uint32(len(frag))
		if i == 1 {
			h |= 0x80000000
		}
		binary.Write(c, binary.BigEndian, h)
		c.Write(frag)
	}
	var h uint32
	if err := binary.Read(c, binary.BigEndian, &h); err != nil {
		t.Fatalf("no reply: %v", err)
	}
	b := make([]byte, h&0x7fffffff)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	return decode(b)
}

func overUDP(t *testing.T, addr string, msg []byte) []uint32 {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(msg)
	b := make([]byte, 4096)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	return decode(b[:n])
}

func decode(b []byte) []uint32 {
	w := make([]uint32, len(b)/4)
	binary.Read(bytes.NewReader(b), binary.BigEndian, w)
	return w
}

func TestAnswers(t *testing.T) {
	accepted := func(xid uint32, rest ...uint32) []uint32 {
		return append([]uint32{xid, msgReply, msgAccepted, 0, 0}, rest...)
	}
	dump := []uint32{acceptSuccess,
		1, Program, 2, ProtoTCP, Port, 1, Program, 2, ProtoUDP, Port,
		1, NFSProg, 3, ProtoTCP, 2049, 1, MountProg, 3, ProtoTCP, 2049, 1, MountProg, 1, ProtoTCP, 2049, 0}
	cases := []struct {
		name string
		call []byte
		want []uint32
	}{
		{"NULL", call(1, Program, 2, procNull), accepted(1, acceptSuccess)},
		{"GETPORT of MOUNT v3 over TCP is the NFS port", call(2, Program, 2, procGetport, MountProg, 3, ProtoTCP, 0), accepted(2, acceptSuccess, 2049)},
		{"GETPORT of NFS v3 over TCP", call(3, Program, 2, procGetport, NFSProg, 3, ProtoTCP, 0), accepted(3, acceptSuccess, 2049)},
		{"GETPORT of MOUNT over UDP is not served: 0", call(4, Program, 2, procGetport, MountProg, 3, ProtoUDP, 0), accepted(4, acceptSuccess, 0)},
		{"GETPORT of NFS v4 is not served: 0", call(5, Program, 2, procGetport, NFSProg, 4, ProtoTCP, 0), accepted(5, acceptSuccess, 0)},
		{"DUMP lists every mapping", call(6, Program, 2, procDump), accepted(6, dump...)},
		{"SET is refused", call(7, Program, 2, procSet, 100099, 1, ProtoTCP, 999), accepted(7, acceptSuccess, 0)},
		{"rpcbind v4 gets PROG_MISMATCH 2..2", call(8, Program, 4, 3), accepted(8, acceptProgMismatch, 2, 2)},
		{"another program is unavailable", call(9, NFSProg, 3, 0), accepted(9, acceptProgUnavail)},
		{"CALLIT is not served", call(10, Program, 2, 5, 1, 2, 3, 0), accepted(10, acceptProcUnavail)},
		{"GETPORT without its mapping is garbage", call(11, Program, 2, procGetport, MountProg), accepted(11, acceptGarbageArgs)},
	}
	tcp, udp := start(t, nil)
	for _, c := range cases {
		for _, over := range []struct {
			name string
			f    func(*testing.T, string, []byte) []uint32
			addr string
		}{{"tcp", overTCP, tcp}, {"udp", overUDP, udp}} {
			t.Run(c.name+" over "+over.name, func(t *testing.T) {
				if got := over.f(t, over.addr, c.call); !equal(got, c.want) {
					t.Fatalf("reply %v, want %v", got, c.want)
				}
			})
		}
	}
}

func equal(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAMalformedCallClosesTheConnection(t *testing.T) {
	tcp, _ := start(t, nil)
	for _, msg := range [][]byte{
		words([]uint32{1, msgReply}),            // not a call
		words([]uint32{1, msgCall, 3, Program}), // RPC version 3, cut short
	} {
		c, err := net.Dial("tcp", tcp)
		if err != nil {
			t.Fatal(err)
		}
		binary.Write(c, binary.BigEndian, uint32(len(msg))|0x80000000)
		c.Write(msg)
		if n, err := c.Read(make([]byte, 64)); err == nil {
			t.Fatalf("%d bytes answered a malformed call", n)
		}
		c.Close()
	}
}

func TestAClientNotAllowedGetsNoAnswer(t *testing.T) {
	tcp, _ := start(t, func(net.Addr) bool { return false })
	c, err := net.Dial("tcp", tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := call(1, Program, 2, procNull)
	binary.Write(c, binary.BigEndian, uint32(len(msg))|0x80000000)
	c.Write(msg)
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("%d bytes answered a client not allowed", n)
	}
}
