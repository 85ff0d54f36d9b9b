package boottest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

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
	checks, steps := Evaluate(test, console)
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
