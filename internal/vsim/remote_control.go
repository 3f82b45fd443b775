package vsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// The control endpoint lets another process drive a running simulator's
// test controls (vmlua sim ask). It takes the SDK's credentials (basic auth).
const controlPath = "/vmlua/control/"

// AskRequest is the body of POST /vmlua/control/ask.
type AskRequest struct {
	VM      string   `json:"vm"`
	Text    string   `json:"text"`
	Choices []string `json:"choices"`
}

// AskResponse is its answer.
type AskResponse struct {
	ID    string `json:"id,omitempty"`
	Error string `json:"error,omitempty"`
}

func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.opts.Username || pass != s.opts.Password {
		w.Header().Set("WWW-Authenticate", `Basic realm="vmlua sim"`)
		http.Error(w, "login failure", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != controlPath+"ask" {
		http.NotFound(w, r)
		return
	}
	var req AskRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	q, err := s.Ask(req.VM, req.Text, req.Choices...)
	if err != nil {
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(AskResponse{Error: err.Error()})
		return
	}
	json.NewEncoder(w).Encode(AskResponse{ID: q.ID})
}

// RemoteAsk raises a question on a simulator running elsewhere, given its SDK
// URL (with credentials). With insecure, the certificate is not verified.
func RemoteAsk(ctx context.Context, sdk *url.URL, insecure bool, req AskRequest) (string, error) {
	u := *sdk
	u.Path = controlPath + "ask"
	u.User = nil
	u.RawQuery = ""
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	if sdk.User != nil {
		pw, _ := sdk.User.Password()
		hr.SetBasicAuth(sdk.User.Username(), pw)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: insecure}}}
	res, err := c.Do(hr)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var ar AskResponse
	if err := json.NewDecoder(res.Body).Decode(&ar); err != nil {
		return "", fmt.Errorf("vsim: ask: %s", res.Status)
	}
	if ar.Error != "" {
		return "", fmt.Errorf("vsim: ask: %s", ar.Error)
	}
	return ar.ID, nil
}
