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
	fmt.Fprintln(b)
	fmt.Fprintln(b, "Every transport takes `create`: by default (`create=true`) opening a URL creates its folder and the folders above it when they do not exist; `create=false` refuses a missing folder with a not-found error (say, when the share or mount it should be on is missing).")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "Only regular files are read: a directory, a named pipe (FIFO), a device or a socket where a file is expected is refused at once (\"not a regular file\"), never opened, so a special file planted in a set cannot block a verify or a restore.")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "Failures that cannot change on retry (not found, exists, not a regular file, permission, no space, invalid name, authentication) fail at once; only the others (a dropped connection, a busy server) are retried, with back-off.")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "Exclusive create: the backup lock (`.vmlua-lock` in a VM's folder) is created only where none exists, with an operation each protocol makes atomic, so of any number of runs that start together exactly one gets it. Each transport below says how.")
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
		if s.Exclusive != "" {
			fmt.Fprintf(b, "Exclusive create: %s\n\n", strings.TrimSpace(s.Exclusive))
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
