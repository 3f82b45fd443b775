// Package config loads vmlua's TOML config file: vSphere profiles, named
// transport credentials, grants, limits and the [notify] destinations
// (mail over SMTP, webhooks), with environment overrides in
// govc's habit (VMLUA_URL, VMLUA_USERNAME, VMLUA_PASSWORD, VMLUA_INSECURE,
// VMLUA_THUMBPRINT). A password may be written in the file (then the file
// must not be readable by group or others), named by an environment
// variable (password_env) or read from a file (password_file). docs/config.md
// describes the format.
package config
