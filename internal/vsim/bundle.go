package vsim

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A host configuration bundle (configBundle-<host>.tgz), as this simulator
// writes and reads it: a gzip'd tar of
//
//	Manifest.txt         UUID=, BUILD=, VERSION=, HOSTNAME= lines
//	etc/ntp.conf         "server <name>" per NTP server
//	etc/resolv.conf      "search ..." and "nameserver <ip>" lines
//	etc/vmware/esx.conf  /path = "value" lines: system, DNS host and domain
//	                     names, vSwitches with their uplinks and port
//	                     groups, and every advanced setting under /adv/
//
// A real ESXi bundle nests the etc files in state.tgz/local.tgz; the files
// and their syntax are ESXi's. The bytes depend on the configuration only
// (fixed timestamps, sorted settings): the same configuration gives the same
// bundle, so two backups can be compared by checksum.

// bundleConfig is what a bundle holds.
type bundleConfig struct {
	Hostname, UUID, Version, Build string
	TimeZone                       string
	NTP                            []string
	DNSHost, DNSDomain             string
	DNSServers, DNSSearch          []string
	Vswitches                      []bundleVswitch
	Portgroups                     []bundlePortgroup
	Options                        []bundleOption // sorted by key
}

type bundleVswitch struct {
	Name          string
	NumPorts, MTU int32
	Nics          []string
}

type bundlePortgroup struct {
	Name, Vswitch string
	VLAN          int32
}

type bundleOption struct{ Key, Value string }

// bundleTime is the modification time of every file in a bundle.
var bundleTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// maxBundle is the largest bundle accepted for a restore.
const maxBundle = 16 << 20

func (b *bundleConfig) encode() []byte {
	var manifest, ntp, resolv, esx bytes.Buffer
	fmt.Fprintf(&manifest, "UUID=%s\nBUILD=%s\nVERSION=%s\nHOSTNAME=%s\n", b.UUID, b.Build, b.Version, b.Hostname)

	ntp.WriteString("restrict default kod nomodify notrap nopeer noquery\nrestrict 127.0.0.1\ndriftfile /etc/ntp.drift\n")
	for _, s := range b.NTP {
		fmt.Fprintf(&ntp, "server %s\n", s)
	}

	if len(b.DNSSearch) > 0 {
		fmt.Fprintf(&resolv, "search %s\n", strings.Join(b.DNSSearch, " "))
	}
	for _, s := range b.DNSServers {
		fmt.Fprintf(&resolv, "nameserver %s\n", s)
	}

	kv := func(k, v string) { fmt.Fprintf(&esx, "%s = %s\n", k, strconv.Quote(v)) }
	kv("/system/uuid", b.UUID)
	kv("/system/hostname", b.Hostname)
	kv("/system/timezone", b.TimeZone)
	kv("/net/dns/hostname", b.DNSHost)
	kv("/net/dns/domain", b.DNSDomain)
	for i, vs := range b.Vswitches {
		p := fmt.Sprintf("/net/vswitch/child[%04d]", i)
		kv(p+"/name", vs.Name)
		kv(p+"/numPorts", strconv.Itoa(int(vs.NumPorts)))
		kv(p+"/mtu", strconv.Itoa(int(vs.MTU)))
		for j, n := range vs.Nics {
			kv(fmt.Sprintf("%s/uplinks/child[%04d]/pnic", p, j), n)
		}
		j := 0
		for _, pg := range b.Portgroups {
			if pg.Vswitch != vs.Name {
				continue
			}
			q := fmt.Sprintf("%s/portgroup/child[%04d]", p, j)
			j++
			kv(q+"/name", pg.Name)
			kv(q+"/vlanId", strconv.Itoa(int(pg.VLAN)))
		}
	}
	for _, o := range b.Options {
		kv("/adv/"+strings.ReplaceAll(o.Key, ".", "/"), o.Value)
	}

	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"Manifest.txt", manifest.Bytes()},
		{"etc/ntp.conf", ntp.Bytes()},
		{"etc/resolv.conf", resolv.Bytes()},
		{"etc/vmware/esx.conf", esx.Bytes()},
	} {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: bundleTime, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		// writes to a bytes.Buffer cannot fail
		_ = tw.WriteHeader(hdr)
		_, _ = tw.Write(f.data)
	}
	_ = tw.Close()
	_ = zw.Close()
	return out.Bytes()
}

var (
	esxLine   = regexp.MustCompile(`^(/[^ ]+) = (".*")$`)
	vsKey     = regexp.MustCompile(`^/net/vswitch/child\[(\d+)\]/(name|numPorts|mtu)$`)
	uplinkKey = regexp.MustCompile(`^/net/vswitch/child\[(\d+)\]/uplinks/child\[(\d+)\]/pnic$`)
	pgKey     = regexp.MustCompile(`^/net/vswitch/child\[(\d+)\]/portgroup/child\[(\d+)\]/(name|vlanId)$`)
)

// decodeBundle parses a bundle; its errors say what is wrong with it.
func decodeBundle(data []byte) (*bundleConfig, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a gzip file: %v", err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a complete tar archive: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if hdr.Size > 1<<20 {
			return nil, fmt.Errorf("%s is %d bytes, too large for a configuration file", hdr.Name, hdr.Size)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s is truncated: %v", hdr.Name, err)
		}
		files[strings.TrimPrefix(hdr.Name, "./")] = b
	}
	// the gzip trailer (checksum, length) is checked only at its end
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, fmt.Errorf("the gzip stream is damaged: %v", err)
	}

	b := &bundleConfig{}
	man, ok := files["Manifest.txt"]
	if !ok {
		return nil, errors.New("it has no Manifest.txt")
	}
	for _, line := range lines(man) {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "UUID":
			b.UUID = v
		case "BUILD":
			b.Build = v
		case "VERSION":
			b.Version = v
		case "HOSTNAME":
			b.Hostname = v
		}
	}
	if b.UUID == "" || b.Build == "" {
		return nil, errors.New("its Manifest.txt has no UUID or BUILD")
	}
	if _, err := strconv.ParseInt(b.Build, 10, 32); err != nil {
		return nil, fmt.Errorf("its Manifest.txt has a malformed BUILD %q", b.Build)
	}

	esx, ok := files["etc/vmware/esx.conf"]
	if !ok {
		return nil, errors.New("it has no etc/vmware/esx.conf")
	}
	type pgAt struct{ vs, i int }
	vss := map[int]*bundleVswitch{}
	nics := map[[2]int]string{}
	pgs := map[pgAt]*bundlePortgroup{}
	for n, line := range lines(esx) {
		m := esxLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("etc/vmware/esx.conf line %d is not `/key = \"value\"`", n+1)
		}
		key := m[1]
		val, err := strconv.Unquote(m[2])
		if err != nil {
			return nil, fmt.Errorf("etc/vmware/esx.conf line %d has a malformed value", n+1)
		}
		atoi := func(s string) int32 {
			v, e := strconv.ParseInt(s, 10, 32)
			if e != nil && err == nil {
				err = fmt.Errorf("etc/vmware/esx.conf line %d: %q is not a number", n+1, s)
			}
			return int32(v)
		}
		switch {
		case key == "/system/uuid", key == "/system/hostname":
		case key == "/system/timezone":
			b.TimeZone = val
		case key == "/net/dns/hostname":
			b.DNSHost = val
		case key == "/net/dns/domain":
			b.DNSDomain = val
		case strings.HasPrefix(key, "/adv/"):
			b.Options = append(b.Options, bundleOption{Key: strings.ReplaceAll(strings.TrimPrefix(key, "/adv/"), "/", "."), Value: val})
		case vsKey.MatchString(key):
			sm := vsKey.FindStringSubmatch(key)
			i := int(atoi(sm[1]))
			if vss[i] == nil {
				vss[i] = &bundleVswitch{}
			}
			switch sm[2] {
			case "name":
				vss[i].Name = val
			case "numPorts":
				vss[i].NumPorts = atoi(val)
			case "mtu":
				vss[i].MTU = atoi(val)
			}
		case uplinkKey.MatchString(key):
			sm := uplinkKey.FindStringSubmatch(key)
			nics[[2]int{int(atoi(sm[1])), int(atoi(sm[2]))}] = val
		case pgKey.MatchString(key):
			sm := pgKey.FindStringSubmatch(key)
			at := pgAt{int(atoi(sm[1])), int(atoi(sm[2]))}
			if pgs[at] == nil {
				pgs[at] = &bundlePortgroup{}
			}
			if sm[3] == "name" {
				pgs[at].Name = val
			} else {
				pgs[at].VLAN = atoi(val)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	for _, i := range sortedKeys(vss) {
		vs := vss[i]
		if vs.Name == "" {
			return nil, fmt.Errorf("etc/vmware/esx.conf: vSwitch %d has no name", i)
		}
		for _, k := range sortedKeys2(nics) {
			if k[0] == i {
				vs.Nics = append(vs.Nics, nics[k])
			}
		}
		b.Vswitches = append(b.Vswitches, *vs)
	}
	var at []pgAt
	for k := range pgs {
		at = append(at, k)
	}
	sort.Slice(at, func(i, j int) bool {
		if at[i].vs != at[j].vs {
			return at[i].vs < at[j].vs
		}
		return at[i].i < at[j].i
	})
	for _, k := range at {
		pg := pgs[k]
		vs, ok := vss[k.vs]
		if !ok || pg.Name == "" {
			return nil, fmt.Errorf("etc/vmware/esx.conf: port group %d of vSwitch %d is incomplete", k.i, k.vs)
		}
		pg.Vswitch = vs.Name
		b.Portgroups = append(b.Portgroups, *pg)
	}
	sort.Slice(b.Options, func(i, j int) bool { return b.Options[i].Key < b.Options[j].Key })

	if ntp, ok := files["etc/ntp.conf"]; ok {
		for _, line := range lines(ntp) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "server" {
				b.NTP = append(b.NTP, f[1])
			}
		}
	}
	if res, ok := files["etc/resolv.conf"]; ok {
		for _, line := range lines(res) {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "nameserver":
				b.DNSServers = append(b.DNSServers, f[1])
			case "search":
				b.DNSSearch = append(b.DNSSearch, f[1:]...)
			}
		}
	}
	return b, nil
}

// lines returns the non-empty, non-comment lines of a text file.
func lines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

func sortedKeys2(m map[[2]int]string) [][2]int {
	keys := make([][2]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	return keys
}
