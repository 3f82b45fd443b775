package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmlua/vmlua/internal/vsim"
)

func init() {
	registerLegacy(command{name: "sim", summary: "run the embedded vSphere simulator (vmlua sim ask: raise a VM question)", run: cmdSim})
}

func cmdSim(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "ask" {
		return cmdSimAsk(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("vmlua sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: vmlua sim [--listen 127.0.0.1:PORT] [--model vpx|esx] [--vms N] [--disk-size SIZE] [--datastore-dir DIR]")
		fmt.Fprintln(fs.Output(), "       vmlua sim ask --url URL VMNAME TEXT CHOICE [CHOICE...]")
		fmt.Fprintln(fs.Output(), "\nRuns a vSphere simulator that behaves like ESXi for hot backups until SIGINT/SIGTERM.")
		fmt.Fprintln(fs.Output(), "Prints the SDK URL (with credentials) on the first line, the certificate thumbprint on the second.")
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	model := fs.String("model", "vpx", "vpx (vCenter) or esx (standalone host)")
	vms := fs.Int("vms", 2, "number of single-disk VMs next to the multi-disk VM DB01")
	diskSize := fs.String("disk-size", "32M", "capacity of each disk (K, M, G suffixes)")
	dsDir := fs.String("datastore-dir", "", "folder for the datastores' files (default: a temporary folder removed on exit)")
	rate := fs.Float64("write-rate", 20, "guest writes per second per powered-on VM (0: none)")
	maxRedo := fs.Int("max-redo", 2, "snapshots per VM before CreateSnapshot raises a question (-1: no limit)")
	pos, code, done := parseFlags(fs, args, stdout, stderr)
	if done {
		return code
	}
	if len(pos) != 0 {
		fmt.Fprintf(stderr, "vmlua sim: unexpected arguments %q\n", pos)
		return exitUsage
	}
	size, err := parseSize(*diskSize)
	if err != nil {
		fmt.Fprintf(stderr, "vmlua sim: --disk-size: %v\n", err)
		return exitUsage
	}
	if *model != "vpx" && *model != "esx" {
		fmt.Fprintf(stderr, "vmlua sim: --model must be vpx or esx\n")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := vsim.Start(ctx, vsim.Options{
		Model: *model, Listen: *listen, VMs: *vms, DiskSize: size, DatastoreDir: *dsDir,
		WriteRate: simWriteRate(*rate), MaxRedo: *maxRedo,
	})
	if err != nil {
		fmt.Fprintf(stderr, "vmlua sim: %v\n", err)
		return exitFailure
	}
	defer s.Close()
	fmt.Fprintln(stdout, s.URL.String())
	fmt.Fprintf(stdout, "thumbprint %s\n", s.Thumbprint)
	if f, ok := stdout.(*os.File); ok {
		f.Sync()
	}
	<-ctx.Done()
	return exitOK
}

func cmdSimAsk(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmlua sim ask", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: vmlua sim ask --url URL VMNAME TEXT CHOICE [CHOICE...]")
		fmt.Fprintln(fs.Output(), "\nRaises a question on a VM of a running 'vmlua sim'; prints the question id.")
		fs.PrintDefaults()
	}
	rawURL := fs.String("url", "", "the SDK URL 'vmlua sim' printed (with credentials)")
	insecure := fs.Bool("insecure", true, "do not verify the simulator's certificate")
	pos, code, done := parseFlags(fs, args, stdout, stderr)
	if done {
		return code
	}
	if *rawURL == "" || len(pos) < 3 {
		fs.Usage()
		return exitUsage
	}
	u, err := url.Parse(*rawURL)
	if err != nil {
		fmt.Fprintf(stderr, "vmlua sim ask: --url: %v\n", err)
		return exitUsage
	}
	id, err := vsim.RemoteAsk(context.Background(), u, *insecure, vsim.AskRequest{VM: pos[0], Text: pos[1], Choices: pos[2:]})
	if err != nil {
		fmt.Fprintf(stderr, "vmlua sim ask: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, id)
	return exitOK
}

// simWriteRate maps --write-rate to vsim.Options.WriteRate, where 0 means
// the default (20) and a negative rate none: --write-rate 0 used to leave
// every VM writing 20 times a second, which with --vms 1000 kept a core of
// the benchmarks' 2-core machine busy in the simulator.
func simWriteRate(perSecond float64) float64 {
	if perSecond <= 0 {
		return -1
	}
	return perSecond
}

// parseSize parses "64M", "1G", "4096", "512K".
func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(s, "iB"), "B"))
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}
