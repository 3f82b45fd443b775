package testservers

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func itoa(i int) string { return strconv.Itoa(i) }

func TestGaneshaListensAndGivesEachTestAFreshDirectory(t *testing.T) {
	t.Cleanup(StopShared)
	a := Ganesha(t)
	b := Ganesha(t)
	if a.DataDir == b.DataDir || a.Port != b.Port {
		t.Fatalf("want one server, two directories: %+v %+v", a, b)
	}
	if _, err := os.Stat(filepath.Join(a.DataDir)); err != nil {
		t.Fatal(err)
	}
	a.Kill()
	c := Ganesha(t) // restarted
	if !listening("127.0.0.1:" + itoa(c.Port)) {
		t.Fatal("ganesha was not restarted after Kill")
	}
}
