// Package boottest turns the console of a boot test into its report: the
// script's steps, each check with the lines that satisfied it or what was
// missing, as text for people and JSON for tools.
package boottest

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kforge/kforge/recipes"
)

// StepMarker starts a line that opens a step of a test script.
const StepMarker = "kforge-step: "

// Report is the result of one boot test.
type Report struct {
	Recipe   string        `json:"recipe"`
	Test     string        `json:"test"`
	Kernel   string        `json:"kernel"`
	Rootfs   string        `json:"rootfs"`
	Machine  string        `json:"machine"`
	Passed   bool          `json:"passed"`
	Duration time.Duration `json:"durationNs"`
	// KernelStart is when the kernel's banner reached the console,
	// measured on the host from QEMU's start; the checks' times count
	// from it.
	KernelStart time.Duration `json:"kernelStartNs,omitempty"`
	// Ready is when the last check was satisfied, from KernelStart: the
	// time from kernel start to the guest's ready line.
	Ready time.Duration `json:"readyNs,omitempty"`
	// Error is why the boot itself failed (QEMU exited, time ran out).
	Error  string  `json:"error,omitempty"`
	Checks []Check `json:"checks"`
	Steps  []Step  `json:"steps"`
	// Console is every line the guest printed (console.log, not the JSON).
	Console []string `json:"-"`
}

// Check is one check of the recipe, evaluated.
type Check struct {
	Step        string   `json:"step,omitempty"`
	Description string   `json:"description"`
	Passed      bool     `json:"passed"`
	Matched     []string `json:"matched,omitempty"` // the line each expectation matched
	Missing     []string `json:"missing,omitempty"` // expectations no line matched
	// At is when the last of its expectations matched, from the kernel's
	// start (0 when the boot has no timings or the check failed).
	At time.Duration `json:"atNs,omitempty"`
}

// Step is the output of one step of the script.
type Step struct {
	Name   string   `json:"name"`
	Output []string `json:"output"`
}

// SplitSteps cuts a console into the script's steps; lines before the
// first step are under the name "".
func SplitSteps(console []string) []Step {
	steps := []Step{{Name: ""}}
	stepAt, marker := stepsOfLines(console)
	for i, line := range console {
		if marker[i] {
			steps = append(steps, Step{Name: stepAt[i]})
			continue
		}
		steps[len(steps)-1].Output = append(steps[len(steps)-1].Output, strings.TrimRight(line, "\r"))
	}
	return steps
}

// stepsOfLines says which step each console line belongs to: for a marker
// line, the step it opens (and marker[i] is set); for any other line, the
// step it is output of.
func stepsOfLines(console []string) (stepAt []string, marker []bool) {
	stepAt, marker = make([]string, len(console)), make([]bool, len(console))
	cur := ""
	for i, l := range console {
		if name, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), StepMarker); ok {
			cur, marker[i] = strings.TrimSpace(name), true
		}
		stepAt[i] = cur
	}
	return stepAt, marker
}

// Evaluate checks the console against a test's checks. arrived, when
// given, holds each line's arrival (boot.Options.Arrived) and kernelStart
// the kernel banner's: the checks then get their times.
func Evaluate(t recipes.Test, console []string, arrived []time.Duration, kernelStart time.Duration) ([]Check, []Step) {
	stepAt, marker := stepsOfLines(console)
	steps := SplitSteps(console)
	var out []Check
	for _, c := range t.Checks {
		// The lines a check looks at, as indexes into the console.
		var lines []int
		for i := range console {
			if c.Step == "" || (!marker[i] && stepAt[i] == c.Step) {
				lines = append(lines, i)
			}
		}
		res := Check{Step: c.Step, Description: c.Description, Passed: true}
		for _, e := range c.Expect {
			re := regexp.MustCompile(e) // validated with the recipe
			at := -1
			for _, i := range lines {
				if re.MatchString(strings.TrimRight(console[i], "\r")) {
					at = i
					break
				}
			}
			if at < 0 {
				res.Passed = false
				res.Missing = append(res.Missing, e)
				continue
			}
			res.Matched = append(res.Matched, strings.TrimRight(console[at], "\r"))
			if at < len(arrived) && arrived[at]-kernelStart > res.At {
				res.At = arrived[at] - kernelStart
			}
		}
		if !res.Passed {
			res.At = 0
		}
		out = append(out, res)
	}
	return out, steps[1:]
}

// Until returns the stop condition of a test with no script, whose end
// has no marker: true once every expectation of every check has matched a
// line. It looks at each line once, as the console grows.
func Until(t recipes.Test) func(console []string) bool {
	var pending []*regexp.Regexp
	for _, c := range t.Checks {
		for _, e := range c.Expect {
			pending = append(pending, regexp.MustCompile(e)) // validated with the recipe
		}
	}
	seen := 0
	return func(console []string) bool {
		for ; seen < len(console); seen++ {
			line := strings.TrimRight(console[seen], "\r")
			pending = slices.DeleteFunc(pending, func(re *regexp.Regexp) bool { return re.MatchString(line) })
		}
		return len(pending) == 0
	}
}

// WriteText writes the report for people: each check with its outcome and
// the lines behind it, then each step's output.
func (r *Report) WriteText(w io.Writer) error {
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "kforge test %s of recipe %s: %s in %s\n", r.Test, r.Recipe, verdict, r.Duration.Round(time.Second))
	fmt.Fprintf(w, "  kernel %s, root filesystem %s, %s\n", r.Kernel, r.Rootfs, r.Machine)
	if r.Ready > 0 {
		fmt.Fprintf(w, "  kernel start to ready: %s (the kernel's banner came %s after QEMU started)\n",
			seconds(r.Ready), seconds(r.KernelStart))
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  boot: %s\n", r.Error)
	}
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.Passed {
			mark = "FAIL"
		}
		where := ""
		if c.Step != "" {
			where = " [" + c.Step + "]"
		}
		at := ""
		if c.At > 0 {
			at = fmt.Sprintf(" (%s after kernel start)", seconds(c.At))
		}
		fmt.Fprintf(w, "%s%s %s%s\n", mark, where, c.Description, at)
		for _, m := range c.Matched {
			fmt.Fprintf(w, "       | %s\n", m)
		}
		for _, m := range c.Missing {
			fmt.Fprintf(w, "       missing: a line matching %s\n", m)
		}
	}
	for _, s := range r.Steps {
		fmt.Fprintf(w, "\n--- step %s\n", s.Name)
		for _, l := range s.Output {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	return nil
}

// WriteJSON writes the report for tools.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// SetTimes fills the report's timings from the checks: the kernel banner's
// arrival, and Ready, the latest check's time, once every check passed.
func (r *Report) SetTimes(kernelStart time.Duration, haveStart bool) {
	if !haveStart {
		return
	}
	r.KernelStart = kernelStart
	r.Ready = 0
	for _, c := range r.Checks {
		if !c.Passed {
			r.Ready = 0
			return
		}
		r.Ready = max(r.Ready, c.At)
	}
}

// seconds prints a duration as seconds with one decimal.
func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
