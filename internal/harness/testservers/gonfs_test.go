package testservers

import "testing"

func TestGoNFSListensAndStopsOnKill(t *testing.T) {
	s := GoNFS(t)
	if !listening("127.0.0.1:" + itoa(s.Port)) {
		t.Fatal("go-nfs is not listening")
	}
	s.Kill()
	if listening("127.0.0.1:" + itoa(s.Port)) {
		t.Fatal("go-nfs still listening after Kill")
	}
}
