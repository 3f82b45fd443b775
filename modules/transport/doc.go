// Package transport is the Lua module "transport": handles on backup
// targets opened by URL (every scheme transports/all registers; the module's
// summary lists them from the registry), for small files and directory work. Big data never passes through Lua:
// a handle is passed to v:export or v:backup, which stream in Go.
//
// Only URLs the operator granted can be opened; passwords come from named
// credentials in the config, never from the script or the URL.
package transport
