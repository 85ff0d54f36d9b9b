package boottest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kforge/kforge/recipes"
)

var console = strings.Split(`kforge-test: start
kforge-step: channels
+ ethtool -L eth1 combined 4
channels-combined=4
kforge-step: etf-offload
etf-offload-refused: Error: Specified device failed to setup etf hardware offload.
kforge-test: exit 0`, "\n")

func TestStepsAndChecks(t *testing.T) {
	test := recipes.Test{Script: "guide.sh", Checks: []recipes.Check{
		{Step: "channels", Description: "four queues", Expect: []string{`^channels-combined=4$`}},
		{Step: "etf-offload", Description: "offload refused", Expect: []string{`^etf-offload-refused: `}},
		// In the console, but in another step: it must not count here.
		{Step: "etf-offload", Description: "wrong step", Expect: []string{`^channels-combined=4$`}},
		{Description: "whole console", Expect: []string{`exit 0$`}},
	}}
	checks, steps := Evaluate(test, console, nil, 0)
	if len(steps) != 2 || steps[0].Name != "channels" || len(steps[1].Output) != 2 {
		t.Fatalf("steps: %+v", steps)
	}
	want := []bool{true, true, false, true}
	for i, c := range checks {
		if c.Passed != want[i] {
			t.Errorf("check %d (%s): passed %v, want %v (%+v)", i, c.Description, c.Passed, want[i], c)
		}
	}
	if checks[2].Missing[0] != `^channels-combined=4$` {
		t.Errorf("the failed check names what was missing: %+v", checks[2])
	}
	rep := &Report{Test: "tsn", Checks: checks, Steps: steps}
	var text, js bytes.Buffer
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "FAIL [etf-offload] wrong step") || !strings.Contains(text.String(), "| channels-combined=4") {
		t.Errorf("text report:\n%s", text.String())
	}
	rep.WriteJSON(&js)
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Checks) != 4 {
		t.Errorf("JSON report does not read back: %v", err)
	}
}

func TestUntilWaitsForEveryCheck(t *testing.T) {
	test := recipes.Test{Checks: []recipes.Check{{Description: "ready", Expect: []string{"READY"}}, {Description: "pid", Expect: []string{`pid":1`}}}}
	done := Until(test)
	if done([]string{"READY"}) {
		t.Error("satisfied with one of two checks")
	}
	if !done([]string{"READY", `{"pid":1}`}) {
		t.Error("not satisfied with both")
	}
}

func TestChecksAreTimedFromTheKernelBanner(t *testing.T) {
	console := []string{"SeaBIOS", "Linux version 6.12.118", "systemd[1]: started", "READY pid", "late"}
	arrived := []time.Duration{100 * time.Millisecond, 400 * time.Millisecond, 2 * time.Second, 3400 * time.Millisecond, 4 * time.Second}
	test := recipes.Test{Checks: []recipes.Check{
		{Description: "systemd", Expect: []string{"systemd"}},
		{Description: "ready", Expect: []string{"READY", "systemd"}},
	}}
	checks, _ := Evaluate(test, console, arrived, 400*time.Millisecond)
	if checks[0].At != 1600*time.Millisecond || checks[1].At != 3*time.Second {
		t.Errorf("times %v and %v, want 1.6s and 3s (from the banner, the last expectation of each)", checks[0].At, checks[1].At)
	}
	rep := &Report{Test: "t", Checks: checks, Passed: true}
	rep.SetTimes(400*time.Millisecond, true)
	var text bytes.Buffer
	rep.WriteText(&text)
	if rep.Ready != 3*time.Second || !strings.Contains(text.String(), "kernel start to ready: 3.0 s (the kernel's banner came 0.4 s after QEMU started)") {
		t.Errorf("ready %v, report:\n%s", rep.Ready, text.String())
	}
	// A failed check leaves no ready time.
	test.Checks = append(test.Checks, recipes.Check{Description: "never", Expect: []string{"NEVER"}})
	rep.Checks, _ = Evaluate(test, console, arrived, 400*time.Millisecond)
	rep.SetTimes(400*time.Millisecond, true)
	if rep.Ready != 0 || rep.Checks[2].At != 0 {
		t.Errorf("a failed check: ready %v, its time %v", rep.Ready, rep.Checks[2].At)
	}
}
