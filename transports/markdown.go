package transports

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Markdown writes the reference of every registered scheme (URL form,
// aliases, help, options) as Markdown; docs/transports.md is generated from
// it so the docs cannot drift from the code. Blank-import the transport
// packages first so their init functions have registered.
func Markdown(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintln(b, "# Transports")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "<!-- Generated from the transports' registrations (transports.Markdown); do not edit. -->")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "Every upload lands under a temporary name (`.<name>.vmlua-<random>.partial`) in the destination directory and is renamed into place only once its byte count (and checksum, when known) matches.")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "A transport's options below are given in its URL's query (`file:///mnt/nas/backup?create=false`, `vmfs://[LocalDS_1] backups?create=false`); a value that does not parse is refused.")
	for _, s := range Schemes() {
		fmt.Fprintf(b, "\n## %s\n\n", s.Name)
		fmt.Fprintf(b, "URL: `%s`\n\n", s.URLForm)
		if s.DefaultPort != "" {
			fmt.Fprintf(b, "Default port: %s\n\n", s.DefaultPort)
		}
		if len(s.Aliases) > 0 {
			fmt.Fprintf(b, "Also as: %s\n\n", "`"+strings.Join(s.Aliases, "://`, `")+"://`")
		}
		if s.Help != "" {
			fmt.Fprintln(b, strings.TrimSpace(s.Help))
			fmt.Fprintln(b)
		}
		if len(s.Options) > 0 {
			fmt.Fprintln(b, "| option | default | meaning |")
			fmt.Fprintln(b, "|---|---|---|")
			for _, o := range s.Options {
				fmt.Fprintf(b, "| `%s` | %s | %s |\n", o.Name, code(o.Default), cell(o.Help))
			}
			fmt.Fprintln(b)
		}
	}
	return b.Flush()
}

func cell(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + cell(s) + "`"
}
