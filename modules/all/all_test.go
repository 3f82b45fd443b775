package all

import "testing"

// TestEveryFunctionIsDocumented: a Lua function without documentation is
// not finished; the reference is generated from these descriptions.
func TestEveryFunctionIsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Modules() {
		if seen[m.Name] {
			t.Errorf("module %s listed twice", m.Name)
		}
		seen[m.Name] = true
		if err := m.Validate(); err != nil {
			t.Error(err)
		}
	}
}
