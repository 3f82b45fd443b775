package main

import (
	"log/slog"
	"math"
	"strconv"
	"time"
)

// forPeople rounds f to 14 significant digits, as Lua 5.1 prints numbers
// (%.14g): the float noise of arithmetic goes (1 + 0.118 is
// 1.1179999999999999 in binary, printed 1.118) and nothing a person would
// read is lost.
func forPeople(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return f
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 14, 64), 64)
	if err != nil {
		return f
	}
	return r
}

// seconds is a duration in seconds, to the millisecond: 2.554, never
// 2.5540000000000003 (Duration.Seconds adds the fraction in binary).
func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond).Milliseconds()) / 1000
}

// roundFloatAttr is a slog ReplaceAttr step: float values are logged for
// people (forPeople).
func roundFloatAttr(a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindFloat64 {
		a.Value = slog.Float64Value(forPeople(a.Value.Float64()))
	}
	return a
}

// roundRows rounds the float values of result rows (forPeople).
func roundRows(rows []map[string]any) {
	for _, row := range rows {
		for k, v := range row {
			if f, ok := v.(float64); ok {
				row[k] = forPeople(f)
			}
		}
	}
}
