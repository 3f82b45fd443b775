package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// pointFlags are the flags of the verbs that open restore points
// read-only (serve nbd, mount): the config, the logs, the vSphere
// connection a vmfs:// TARGET needs, --credentials for TARGET and the
// memory they read with.
type pointFlags struct {
	f           runFlags
	credentials string
	cacheMiB    int64
}

func (p *pointFlags) register(fs *flag.FlagSet) {
	f := &p.f
	fs.StringVar(&f.configPath, "config", "", "config file (default: $VMLUA_CONFIG, ./vmlua.toml, ~/.config/vmlua/config.toml, /etc/vmlua/config.toml)")
	fs.StringVar(&p.credentials, "credentials", "", "named credentials from the config file for TARGET (as transport.open's credentials=)")
	fs.Int64Var(&p.cacheMiB, "cache", 64, "MiB of memory for verified spans and decoded frames, shared by every disk")
	fs.StringVar(&f.url, "url", "", "vSphere SDK URL, for a vmfs:// TARGET only; env VMLUA_URL")
	fs.StringVar(&f.profile, "profile", "", "vSphere profile from the config file, for a vmfs:// TARGET only")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the vSphere server's TLS certificate (vmfs:// TARGET); env VMLUA_INSECURE")
	fs.StringVar(&f.thumbprint, "thumbprint", "", "pin the vSphere server's certificate (vmfs:// TARGET); env VMLUA_THUMBPRINT")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

// pointTarget is TARGET opened for a verb: the run that holds its
// credentials and the transport.
type pointTarget struct {
	r *runtime.Run
	h *modtransport.Handle
}

func (p *pointTarget) close() {
	if p.r != nil {
		p.r.Close()
	}
}

// open opens the TARGET the operator typed: it is granted for this
// command, as --allow grants a script. The run lives as long as the
// command (no --timeout: a server runs until it is stopped).
func (p *pointFlags) open(ctx context.Context, stderr io.Writer, target string) (*pointTarget, error) {
	opts, err := p.f.options(ctx, stderr, nil)
	if err != nil {
		return nil, err
	}
	opts.Timeout = 1 << 62 // until the command ends (its context)
	if err := opts.Grants.Allow(target); err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("TARGET %s: %w", transports.Redact(target), err)}
	}
	r, err := runtime.New(opts)
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	pt := &pointTarget{r: r}
	if u, err := transports.Parse(target); err == nil && strings.EqualFold(u.Scheme, "vmfs") {
		if _, err := vm.Connect(r, ""); err != nil {
			pt.close()
			return nil, err
		}
	}
	if pt.h, err = modtransport.Open(r, target, p.credentials, nil); err != nil {
		pt.close()
		return nil, err
	}
	return pt, nil
}

// splitPointArg splits VM[@POINT] (or a set id VM/POINT, as vmlua sets
// list and backup.list show it) into the VM's name and the point ("" for
// the newest).
func splitPointArg(s string) (vmName, point string) {
	if i := strings.LastIndex(s, "@"); i > 0 {
		return s[:i], s[i+1:]
	}
	if vmName, _, err := catalog.ParseSetID(s); err == nil && !strings.HasPrefix(s, catalog.HostPrefix) {
		return vmName, s[len(vmName)+1:]
	}
	return s, ""
}

// pointStatus maps what opening a point returned to an exit status:
// nothing there 6, an argument vmlua refuses 2, a config error 3,
// anything else 1.
func pointStatus(stderr io.Writer, err error) int {
	var re *runtime.Error
	if errors.As(err, &re) {
		switch re.Code {
		case runtime.CodeNotFound:
			fmt.Fprintf(stderr, "vmlua: %v\n", err)
			return exitNothingSelected
		case runtime.CodeInvalidArg:
			fmt.Fprintf(stderr, "vmlua: %v\n", err)
			return exitUsage
		}
	}
	return reportErr(stderr, err)
}

// pointFooter is the exit statuses of the verbs that open points.
const pointFooter = "2 usage (bad flags or arguments), 3 config (unreadable config, unknown credentials), 6 nothing there (no complete set of that VM or point)"
