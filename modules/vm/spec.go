package vm

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/vmlua/vmlua/internal/vmxfmt"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// The selection syntax (docs: the vm module's reference):
//
//   - a term is KIND:VALUE, or a .vmx datastore path "[ds] dir/x.vmx";
//   - VALUE may list values with commas: name:DB01,WEB01 (any of them);
//   - terms separated by spaces must all match: folder:/DC0/vm/prod powerstate:on;
//   - a comma before another term starts an alternative:
//     folder:/DC0/vm/prod powerstate:on, tag:Backup:gold
//     is (folder AND power) OR tag;
//   - double quotes keep spaces, commas and colons in a value:
//     name:"Backup Server: Primary".
//
// A space or comma separates only when what follows starts a term (a word
// and a colon, or "["), so names with spaces (name:My VM) and the .vmx path
// itself need no quotes.

// kinds are the specifier kinds, in the order messages list them.
var kinds = []string{"name", "uuid", "ipaddr", "moref", "powerstate", "folder", "cluster", "host", "pool", "datastore", "tag", "any", "none"}

// kindHelp is what each kind takes, for messages.
var kindHelp = "name:GLOB, uuid:UUID, ipaddr:IP-OR-DNS, moref:vm-N, powerstate:on|off|suspended, folder:PATH, cluster:NAME, host:NAME, pool:PATH, datastore:NAME, tag:[CATEGORY:]NAME, any:, none:, or a \"[datastore] dir/x.vmx\" path"

// inventoryKinds are matched on where a VM sits, resolved against the
// inventory first (Conn.Resolve).
var inventoryKinds = map[string]bool{"folder": true, "cluster": true, "host": true, "pool": true, "datastore": true, "tag": true}

// Term is one KIND:VALUE of a specifier; a VM matches it when it matches
// any of Values.
type Term struct {
	Kind   string
	Values []string
	tags   []tagPattern // Kind "tag": Values split into category and name
}

type tagPattern struct {
	category string // "" for any category
	name     string
}

// Spec is a parsed VM selection: alternatives (OR) of terms that must all
// match (AND). A spec of one term with one value also has that term's Kind
// and Value; any other has Kind "compound". The zero value with Kind set
// (Spec{Kind: "any"}) is that single term.
type Spec struct {
	Kind  string // vmx, name, uuid, ipaddr, moref, powerstate, folder, cluster, host, pool, datastore, tag, any, none, or compound
	Value string
	Alts  [][]Term

	raw  string
	bind *binding // the inventory-dependent terms resolved (Conn.Resolve)
}

// String is the specifier as it was written.
func (s Spec) String() string {
	if s.raw != "" {
		return s.raw
	}
	return s.Kind + ":" + s.Value
}

// alts returns the alternatives, a single-term Spec built by hand included.
func (s Spec) alts() [][]Term {
	if s.Alts != nil {
		return s.Alts
	}
	if s.Kind == "" || s.Kind == "compound" {
		return nil
	}
	t := Term{Kind: s.Kind, Values: []string{s.Value}}
	if s.Kind == "tag" {
		t.tags = []tagPattern{splitTag(s.Value)}
	}
	return [][]Term{{t}}
}

// ParseSpec parses a specifier (see the selection syntax above) or a .vmx
// datastore path. Its errors say what is valid.
func ParseSpec(raw string) (Spec, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Spec{}, fmt.Errorf("empty VM specifier: want %s", kindHelp)
	}
	if strings.Count(s, `"`)%2 != 0 {
		return Spec{}, fmt.Errorf("VM specifier %q: a double quote is not closed", raw)
	}
	sp := Spec{raw: s}
	for _, alt := range split(s, isComma, startsKnownTerm) {
		var terms []Term
		for _, tok := range split(alt, isSpace, startsTerm) {
			t, err := parseTerm(raw, tok)
			if err != nil {
				return Spec{}, err
			}
			terms = append(terms, t)
		}
		if len(terms) == 0 {
			return Spec{}, fmt.Errorf("VM specifier %q: an empty alternative between commas", raw)
		}
		sp.Alts = append(sp.Alts, terms)
	}
	if len(sp.Alts) == 1 && len(sp.Alts[0]) == 1 && len(sp.Alts[0][0].Values) == 1 {
		sp.Kind, sp.Value = sp.Alts[0][0].Kind, sp.Alts[0][0].Values[0]
	} else {
		sp.Kind = "compound"
	}
	return sp, nil
}

func isComma(b byte) bool { return b == ',' }
func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// split cuts s at each separator outside double quotes that is followed
// (after spaces) by what starts reports as the start of a term; the
// pieces are trimmed.
func split(s string, sep func(byte) bool, starts func(string) bool) []string {
	var out []string
	quoted, from := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			quoted = !quoted
		case !quoted && sep(s[i]) && starts(strings.TrimLeft(s[i+1:], " \t\r\n")):
			out = append(out, strings.TrimSpace(s[from:i]))
			from = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[from:]))
}

// startsKnownTerm is startsTerm for a known kind (or a .vmx path): after a
// comma, anything else is one more value of the term before
// (tag:gold,Backup:silver).
func startsKnownTerm(s string) bool {
	if strings.HasPrefix(s, "[") {
		return true
	}
	k, _, ok := strings.Cut(s, ":")
	return ok && startsTerm(s) && slices.Contains(kinds, strings.ToLower(k))
}

// startsTerm reports whether s begins with a term: "[" (a .vmx path) or
// a word and a colon.
func startsTerm(s string) bool {
	if strings.HasPrefix(s, "[") {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c == '_' && i > 0:
		case c == ':' && i > 0:
			return true
		default:
			return false
		}
	}
	return false
}

// unquote drops the double quotes that kept a value together.
func unquote(s string) string { return strings.ReplaceAll(s, `"`, "") }

// parseTerm parses one KIND:VALUE (or a .vmx path) of the specifier raw.
func parseTerm(raw, tok string) (Term, error) {
	if strings.HasPrefix(tok, "[") {
		if !strings.Contains(tok, "]") || !strings.HasSuffix(strings.ToLower(tok), ".vmx") {
			return Term{}, fmt.Errorf("VM path %q: want a datastore path like \"[LocalDS_0] DB01/DB01.vmx\"", tok)
		}
		return Term{Kind: "vmx", Values: []string{tok}}, nil
	}
	kind, val, ok := strings.Cut(tok, ":")
	if !ok {
		return Term{}, fmt.Errorf("VM specifier %q: %q is no KIND:VALUE; want %s", raw, tok, kindHelp)
	}
	kind = strings.ToLower(strings.TrimSpace(kind))
	if !slices.Contains(kinds, kind) {
		return Term{}, fmt.Errorf("VM specifier %q: unknown kind %q%s (want %s)%s", raw, kind, didYouMean(kind+":", kindNames()), strings.Join(kindNames(), ", "), quoteHint(raw, tok))
	}
	t := Term{Kind: kind}
	if kind == "any" || kind == "none" {
		if strings.TrimSpace(val) != "" {
			return Term{}, fmt.Errorf("VM specifier %q: %s: takes no value", raw, kind)
		}
		t.Values = []string{""}
		return t, nil
	}
	for _, v := range splitValues(val) {
		if kind != "tag" {
			v = unquote(v)
		}
		if unquote(v) == "" {
			return Term{}, fmt.Errorf("VM specifier %q: %s: needs a value (%s)", raw, kind, kindValueHelp(kind))
		}
		switch kind {
		case "powerstate":
			switch strings.ToLower(v) {
			case "on", "off", "suspended":
				v = strings.ToLower(v)
			default:
				return Term{}, fmt.Errorf("VM specifier %q: powerstate: takes on, off or suspended%s", raw, didYouMean(strings.ToLower(v), []string{"off", "on", "suspended"}))
			}
		case "tag":
			p := splitTag(v)
			for _, g := range []string{p.category, p.name} {
				if _, err := path.Match(g, ""); err != nil {
					return Term{}, fmt.Errorf("VM specifier %q: bad pattern %q: %v", raw, g, err)
				}
			}
			if p.name == "" {
				return Term{}, fmt.Errorf("VM specifier %q: tag: needs a tag name (tag:NAME or tag:CATEGORY:NAME)", raw)
			}
			t.tags = append(t.tags, p)
		case "name", "folder", "pool", "cluster", "host", "datastore":
			if _, err := path.Match(v, ""); err != nil {
				return Term{}, fmt.Errorf("VM specifier %q: bad pattern %q: %v", raw, v, err)
			}
			if kind == "folder" || kind == "pool" {
				if v != "/" {
					v = strings.TrimRight(v, "/")
				}
			}
		}
		t.Values = append(t.Values, v)
	}
	return t, nil
}

// splitValues cuts a term's value at commas outside double quotes (the
// quotes are kept: splitTag needs them).
func splitValues(val string) []string {
	var out []string
	quoted, from := false, 0
	for i := 0; i < len(val); i++ {
		switch {
		case val[i] == '"':
			quoted = !quoted
		case val[i] == ',' && !quoted:
			out = append(out, strings.TrimSpace(val[from:i]))
			from = i + 1
		}
	}
	return append(out, strings.TrimSpace(val[from:]))
}

// splitTag splits CATEGORY:NAME at the first colon outside quotes; a value
// without one is a tag name of any category.
func splitTag(v string) tagPattern {
	quoted := false
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '"':
			quoted = !quoted
		case v[i] == ':' && !quoted:
			return tagPattern{category: unquote(v[:i]), name: unquote(v[i+1:])}
		}
	}
	return tagPattern{name: unquote(v)}
}

func kindNames() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k + ":"
	}
	return out
}

func kindValueHelp(kind string) string {
	for _, h := range strings.Split(kindHelp, ", ") {
		if strings.HasPrefix(h, kind+":") {
			return h
		}
	}
	return kind + ":VALUE"
}

// quoteHint explains quoting when a value held " word:" (which starts a
// new term).
func quoteHint(raw, tok string) string {
	i := strings.Index(raw, tok)
	if i <= 0 {
		return ""
	}
	terms := split(strings.TrimSpace(raw[:i]), isSpace, startsTerm)
	k, v, ok := strings.Cut(terms[len(terms)-1], ":")
	if !ok || strings.Contains(v, `"`) {
		return ""
	}
	return fmt.Sprintf("; if %q belongs to the value before it, put the value in double quotes: %s:\"%s %s\"", tok, k, v, tok)
}

// didYouMean names the candidate nearest to s (within two edits, case
// aside), if there is one.
func didYouMean(s string, candidates []string) string {
	orig := map[string]string{}
	var lower []string
	for _, c := range candidates {
		l := strings.ToLower(c)
		if _, ok := orig[l]; !ok {
			orig[l] = c
			lower = append(lower, l)
		}
	}
	if best := runtime.Closest(strings.ToLower(s), lower); best != "" {
		return fmt.Sprintf(" — did you mean %s?", orig[best])
	}
	return ""
}

// Props returns the VM properties Matches reads for this specifier (the
// moref is every object's own; name is among lookupProps).
func (s Spec) Props() []string {
	var out []string
	for _, alt := range s.alts() {
		for _, t := range alt {
			out = union(out, t.props())
		}
	}
	return out
}

func (t Term) props() []string {
	switch t.Kind {
	case "name":
		return []string{"name"}
	case "vmx":
		return []string{"config.files.vmPathName"}
	case "uuid":
		return []string{"config.uuid"}
	case "ipaddr":
		return []string{"guest.ipAddress", "guest.hostName", "guest.net"}
	case "powerstate":
		return []string{"runtime.powerState"}
	case "folder":
		return []string{"parent"}
	case "pool":
		return []string{"resourcePool"}
	case "host", "cluster":
		return []string{"runtime.host"}
	case "datastore":
		return []string{"datastore"}
	}
	return nil
}

// inventory reports whether a term of s needs Conn.Resolve.
func (s Spec) inventory() bool {
	for _, alt := range s.alts() {
		for _, t := range alt {
			if inventoryKinds[t.Kind] {
				return true
			}
		}
	}
	return false
}

// single reports whether the specifier names one VM at most (open may use
// it): one alternative with a term that names one VM.
func (s Spec) single() bool {
	alts := s.alts()
	if len(alts) != 1 {
		return false
	}
	for _, t := range alts[0] {
		if len(t.Values) != 1 {
			continue
		}
		switch t.Kind {
		case "vmx", "uuid", "ipaddr", "moref":
			return true
		case "name":
			if !strings.ContainsAny(t.Values[0], "*?[") {
				return true
			}
		}
	}
	return false
}

// none reports whether s can match nothing (none: alone).
func (s Spec) none() bool {
	alts := s.alts()
	if len(alts) == 0 {
		return false
	}
	for _, alt := range alts {
		if !slices.ContainsFunc(alt, func(t Term) bool { return t.Kind == "none" }) {
			return false
		}
	}
	return true
}

var powerStates = map[string]types.VirtualMachinePowerState{
	"on": types.VirtualMachinePowerStatePoweredOn, "off": types.VirtualMachinePowerStatePoweredOff, "suspended": types.VirtualMachinePowerStateSuspended,
}

// Matches reports whether a VM matches the specifier. Terms on where a VM
// sits (folder:, cluster:, host:, pool:, datastore:, tag:) match only
// once the spec was resolved (Conn.Resolve; Conn.Find does it).
func (s Spec) Matches(x mo.VirtualMachine) bool {
	for i, alt := range s.alts() {
		all := true
		for j, t := range alt {
			if !t.matches(x, s.bind, i, j) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// matches reports whether x matches one of t's values; b holds the
// resolved inventory terms, (i, j) is t's place in the spec.
func (t Term) matches(x mo.VirtualMachine, b *binding, i, j int) bool {
	if inventoryKinds[t.Kind] {
		return b != nil && b.matches(t.Kind, x, i, j)
	}
	for _, v := range t.Values {
		if matchValue(t.Kind, v, x) {
			return true
		}
	}
	return false
}

func matchValue(kind, v string, x mo.VirtualMachine) bool {
	switch kind {
	case "any":
		return true
	case "none":
		return false
	case "moref":
		return x.Self.Value == v
	case "name":
		ok, _ := path.Match(v, x.Name)
		return ok
	case "powerstate":
		return x.Runtime.PowerState == powerStates[v]
	case "vmx":
		return x.Config != nil && x.Config.Files.VmPathName == v
	case "uuid":
		return x.Config != nil && vmxfmt.SameUUID(x.Config.Uuid, v)
	case "ipaddr":
		if x.Guest == nil {
			return false
		}
		v = strings.ToLower(v)
		if strings.EqualFold(x.Guest.IpAddress, v) || strings.EqualFold(x.Guest.HostName, v) {
			return true
		}
		if h, _, ok := strings.Cut(x.Guest.HostName, "."); ok && strings.EqualFold(h, v) {
			return true
		}
		for _, n := range x.Guest.Net {
			for _, ip := range n.IpAddress {
				if strings.EqualFold(ip, v) {
					return true
				}
			}
		}
	}
	return false
}
