// Package window is a run's backup window (--window 22:00-06:00): the
// local times of day between which new work may start. A window may cross
// midnight. A Gate holds the window a run started in: once that window
// closes, nothing new starts (what runs goes on to its end), even if the
// run lasts until the window opens again the next day.
package window
