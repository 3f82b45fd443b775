package oneline

import "testing"

func TestEscapeKeepsTextOnOneLineAndVisible(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain text is unchanged", `DB01: backup of C:\vm failed (50%)`, `DB01: backup of C:\vm failed (50%)`},
		{"UTF-8 text is unchanged", "Sauvegarde de « Serveur-Büro » échouée", "Sauvegarde de « Serveur-Büro » échouée"},
		{"a newline cannot forge a line", "boom\nvmlua: x.lua: ok", `boom\nvmlua: x.lua: ok`},
		{"a carriage return cannot overwrite the line", "failed\rsucceeded", `failed\rsucceeded`},
		{"a tab cannot shift a table column", "a\tb", `a\tb`},
		{"an ANSI escape cannot repaint the screen", "\x1b[2J\x1b[31mred", `\x1b[2J\x1b[31mred`},
		{"NUL, bell and DEL are escaped", "a\x00b\x07c\x7f", `a\x00b\x07c\x7f`},
		{"an 8-bit CSI byte that is not UTF-8 is escaped", "a\x9b31mb", `a\x9b31mb`},
		{"a C1 control rune is escaped", "a\u009b31mb", `a\u009b31mb`},
		{"Unicode line separators are escaped", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"a bidi override cannot reorder the text", "file\u202egpj.exe", `file\u202egpj.exe`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Escape(tc.in); got != tc.want {
				t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
