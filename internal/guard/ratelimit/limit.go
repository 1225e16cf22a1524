package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Limit is one parsed rate: Count requests per Window, with Burst requests
// allowed at once. It is written "10/s", "100/1m burst 20", "10000/day".
type Limit struct {
	// Count is how many requests the window admits when spread out.
	Count int64
	// Window is the period Count is measured over.
	Window time.Duration
	// Burst is how many requests may arrive at once; it defaults to Count.
	Burst int64
}

// maxCount bounds counts and bursts so that GCRA arithmetic in
// nanoseconds never overflows and stays exact in Redis (Lua doubles).
const maxCount = 1_000_000_000

// maxWindow is the longest window accepted: one year.
const maxWindow = 366 * 24 * time.Hour

var unitNames = map[string]time.Duration{
	"ms": time.Millisecond,
	"s":  time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseLimit parses "COUNT/[N]UNIT [burst B]": units are ms, s, m, h, d
// (also sec, min, hour, day and plurals). Examples: "10/s", "5/1h",
// "100/30s burst 20", "10000/day".
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	rate, rest, _ := strings.Cut(s, " ")
	countStr, per, ok := strings.Cut(rate, "/")
	if !ok {
		return Limit{}, fmt.Errorf("limit %q: want COUNT/WINDOW such as 10/s or 5/1h", truncate(s))
	}
	count, err := strconv.ParseInt(countStr, 10, 64)
	if err != nil || count < 1 || count > maxCount {
		return Limit{}, fmt.Errorf("limit %q: count must be an integer from 1 to %d", truncate(s), maxCount)
	}
	window, err := parseWindow(per)
	if err != nil {
		return Limit{}, fmt.Errorf("limit %q: %w", truncate(s), err)
	}
	l := Limit{Count: count, Window: window, Burst: count}
	rest = strings.TrimSpace(rest)
	if rest != "" {
		word, val, _ := strings.Cut(rest, " ")
		if word != "burst" {
			return Limit{}, fmt.Errorf("limit %q: unexpected %q, want \"burst N\"", truncate(s), truncate(word))
		}
		b, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil || b < 1 || b > maxCount {
			return Limit{}, fmt.Errorf("limit %q: burst must be an integer from 1 to %d", truncate(s), maxCount)
		}
		l.Burst = b
	}
	if l.Interval() < time.Microsecond {
		return Limit{}, fmt.Errorf("limit %q: more than one request per microsecond", truncate(s))
	}
	if float64(l.Interval())*float64(l.Burst) > float64(math.MaxInt64/4) {
		return Limit{}, fmt.Errorf("limit %q: burst times interval is too large", truncate(s))
	}
	return l, nil
}

func parseWindow(per string) (time.Duration, error) {
	i := 0
	for i < len(per) && per[i] >= '0' && per[i] <= '9' {
		i++
	}
	n := int64(1)
	if i > 0 {
		v, err := strconv.ParseInt(per[:i], 10, 64)
		if err != nil || v < 1 {
			return 0, errors.New("window multiplier must be a positive integer")
		}
		n = v
	}
	unit, ok := unitNames[per[i:]]
	if !ok {
		return 0, errors.New("window unit must be ms, s, m, h or d")
	}
	if n > int64(maxWindow/unit) {
		return 0, errors.New("window is longer than a year")
	}
	return time.Duration(n) * unit, nil
}

// Interval is the GCRA emission interval: the time one request "costs".
func (l Limit) Interval() time.Duration { return l.Window / time.Duration(l.Count) }

// String writes the limit in the syntax ParseLimit reads.
func (l Limit) String() string {
	s := strconv.FormatInt(l.Count, 10) + "/" + windowString(l.Window)
	if l.Burst != l.Count {
		s += " burst " + strconv.FormatInt(l.Burst, 10)
	}
	return s
}

func windowString(d time.Duration) string {
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d%u.d == 0 {
			if d == u.d {
				return u.s
			}
			return strconv.FormatInt(int64(d/u.d), 10) + u.s
		}
	}
	return d.String()
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
