package vm

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// show renders a parsed spec: alternatives joined by " | ", terms by " & ",
// a term as kind=value,value.
func show(s Spec) string {
	var alts []string
	for _, alt := range s.alts() {
		var terms []string
		for _, t := range alt {
			terms = append(terms, t.Kind+"="+strings.Join(t.Values, ","))
		}
		alts = append(alts, strings.Join(terms, " & "))
	}
	return strings.Join(alts, " | ")
}

// TestParseSpecReadsTheSyntax: spaces are AND, a comma before a known kind
// is OR, commas inside a value list values, quotes keep a value together,
// and a separator counts only before a term.
func TestParseSpecReadsTheSyntax(t *testing.T) {
	cases := []struct{ in, want, kind string }{
		{"name:DB01", "name=DB01", "name"},
		{"  nAme:DB01 ", "name=DB01", "name"},
		{"name:My VM", "name=My VM", "name"},
		{"[LocalDS_0] DB01/DB01.vmx", "vmx=[LocalDS_0] DB01/DB01.vmx", "vmx"},
		{"[LocalDS_0] DB01/DB01.vmx powerstate:on", "vmx=[LocalDS_0] DB01/DB01.vmx & powerstate=on", "compound"},
		{"folder:/DC0/vm/prod/ powerstate:ON", "folder=/DC0/vm/prod & powerstate=on", "compound"},
		{"name:DB01,WEB01", "name=DB01,WEB01", "compound"},
		{"name:DB01, name:WEB01", "name=DB01 | name=WEB01", "compound"},
		{"folder:prod powerstate:on, tag:Backup:gold", "folder=prod & powerstate=on | tag=Backup:gold", "compound"},
		{"tag:Backup:gold,Env:test", "tag=Backup:gold,Env:test", "compound"},
		{`name:"Backup Server: Primary"`, "name=Backup Server: Primary", "name"},
		{`name:"a,b" host:h1`, "name=a,b & host=h1", "compound"},
		{`tag:"Backup Tier":"gold: 4h"`, `tag="Backup Tier":"gold: 4h"`, "tag"},
		{"ipaddr:fe80::1", "ipaddr=fe80::1", "ipaddr"},
		{"any: powerstate:off", "any= & powerstate=off", "compound"},
		{"none:", "none=", "none"},
	}
	for _, tc := range cases {
		s, err := ParseSpec(tc.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tc.in, err)
			continue
		}
		if got := show(s); got != tc.want || s.Kind != tc.kind {
			t.Errorf("ParseSpec(%q) = %s (kind %s), want %s (kind %s)", tc.in, got, s.Kind, tc.want, tc.kind)
		}
	}
	tg, _ := ParseSpec(`tag:"Backup Tier":"gold: 4h"`)
	if p := tg.Alts[0][0].tags[0]; p.category != "Backup Tier" || p.name != "gold: 4h" {
		t.Errorf("quoted tag = %+v", p)
	}
}

// TestSpecMatchesAndOr: a VM matches when every term of one alternative
// matches it, and a term when one of its values does.
func TestSpecMatchesAndOr(t *testing.T) {
	vm := func(name string, on bool) mo.VirtualMachine {
		x := mo.VirtualMachine{}
		x.Name, x.Self = name, types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-" + name}
		x.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
		if on {
			x.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOn
		}
		return x
	}
	vms := []mo.VirtualMachine{vm("DB01", true), vm("WEB01", true), vm("WEB02", false), vm("a,b", true), vm("a", true)}
	cases := map[string]string{
		"name:WEB* powerstate:on":          "WEB01",
		"name:WEB*,DB01":                   "DB01 WEB01 WEB02",
		"name:WEB02, name:DB01":            "DB01 WEB02",
		"powerstate:off, name:DB01 any:":   "DB01 WEB02",
		`name:"a,b"`:                       "a,b",
		"name:DB01 none:":                  "",
		"moref:vm-WEB02,vm-DB01 name:WEB*": "WEB02",
	}
	for in, want := range cases {
		s, err := ParseSpec(in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, x := range vms {
			if s.Matches(x) {
				got = append(got, x.Name)
			}
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%q matches %v, want %s", in, got, want)
		}
	}
}
