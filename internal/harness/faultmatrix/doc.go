// Package faultmatrix holds vmlua's fault matrix (issue 10): every fault a
// backup can meet — vSphere faults, dropped sessions, a dying or full or
// refusing target, questions, script errors, timeouts, signals — run
// against the vSphere simulator (internal/vsim) and real test servers
// (internal/harness/testservers), with the same invariants checked for each cell.
// The matrix is test code (matrix_test.go); docs/reliability.md lists its
// cells and what each one proves.
package faultmatrix
