// Package kernelorg pins a kernel release from kernel.org (or a mirror of
// its layout): the checksum of linux-<version>.tar.xz is taken from the
// directory's sha256sums.asc after its OpenPGP signature is verified against
// release keys the recipe pins.
package kernelorg

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// DefaultMirror is kernel.org's own tree.
const DefaultMirror = "https://cdn.kernel.org/pub/linux/kernel"

var versionRe = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?$`)

// ValidVersion reports whether v looks like a release version (6.1, 6.1.62).
func ValidVersion(v string) bool { return versionRe.MatchString(v) }

// Pinned is a resolved release tarball.
type Pinned struct {
	Path   string // below the mirror root: v6.x/linux-6.1.62.tar.xz
	SHA256 string
	Signer string // fingerprint of the key that signed sha256sums.asc
}

// Resolve finds the sha256 of linux-<version>.tar.xz. A version that does
// not exist is an error naming the nearest versions that do.
func Resolve(ctx context.Context, mirrors []string, version string, keyring openpgp.EntityList) (*Pinned, error) {
	m := versionRe.FindStringSubmatch(version)
	if m == nil {
		return nil, fmt.Errorf("%q is not a kernel version such as 6.1 or 6.1.62", version)
	}
	dir := "v" + m[1] + ".x"
	var failures []string
	for _, mirror := range mirrors {
		url := strings.TrimSuffix(mirror, "/") + "/" + dir + "/sha256sums.asc"
		sums, signer, err := fetchSums(ctx, url, keyring)
		if err != nil {
			failures = append(failures, err.Error())
			continue
		}
		file := "linux-" + version + ".tar.xz"
		if sha, ok := sums[file]; ok {
			return &Pinned{Path: dir + "/" + file, SHA256: sha, Signer: signer}, nil
		}
		var known []string
		for name := range sums {
			if v, ok := strings.CutPrefix(name, "linux-"); ok {
				if v, ok := strings.CutSuffix(v, ".tar.xz"); ok && ValidVersion(v) {
					known = append(known, v)
				}
			}
		}
		msg := fmt.Sprintf("kernel %s does not exist (not in %s)", version, url)
		if near := Nearest(version, known, 3); len(near) > 0 {
			msg += "; nearest versions: " + strings.Join(near, ", ")
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return nil, fmt.Errorf("no mirror served a verified %s/sha256sums.asc:\n  %s", dir, strings.Join(failures, "\n  "))
}

func fetchSums(ctx context.Context, url string, keyring openpgp.EntityList) (map[string]string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%s: HTTP %s", url, resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", url, err)
	}
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, "", fmt.Errorf("%s is not a clear-signed message", url)
	}
	signer, err := block.VerifySignature(keyring, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%s: signature check failed against the recipe's release keys: %v", url, err)
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(block.Plaintext))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && len(f[0]) == 64 {
			sums[f[1]] = f[0]
		}
	}
	return sums, fmt.Sprintf("%X", signer.PrimaryKey.Fingerprint), nil
}

// LoadKeys reads the recipe's pinned release keys (armored or binary).
func LoadKeys(paths []string) (openpgp.EntityList, error) {
	var all openpgp.EntityList
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
		if err != nil {
			if keys, err = openpgp.ReadKeyRing(bytes.NewReader(data)); err != nil {
				return nil, fmt.Errorf("%s holds no OpenPGP public key", p)
			}
		}
		all = append(all, keys...)
	}
	return all, nil
}

// Nearest returns up to n known versions closest to want: those sharing the
// most leading components first, then by numeric distance, each list
// ascending. Asked for 5.0.0 among 4.20, 5.0, 5.0.1, 5.0.2 and 5.1, it
// gives 5.0, 5.0.1, 5.0.2.
func Nearest(want string, known []string, n int) []string {
	w := components(want)
	type cand struct {
		v      string
		shared int
		dist   float64
	}
	var cs []cand
	for _, k := range known {
		c := components(k)
		shared := 0
		for shared < len(w) && shared < len(c) && w[shared] == c[shared] {
			shared++
		}
		cs = append(cs, cand{k, shared, math.Abs(numeric(c) - numeric(w))})
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].shared != cs[j].shared {
			return cs[i].shared > cs[j].shared
		}
		if cs[i].dist != cs[j].dist {
			return cs[i].dist < cs[j].dist
		}
		return cs[i].v < cs[j].v
	})
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].v)
	}
	sort.Slice(out, func(i, j int) bool { return numeric(components(out[i])) < numeric(components(out[j])) })
	return out
}

func components(v string) []int {
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, _ := strconv.Atoi(p)
		out = append(out, n)
	}
	for len(out) < 3 {
		out = append(out, 0)
	}
	return out
}

func numeric(c []int) float64 { return float64(c[0])*1e6 + float64(c[1])*1e3 + float64(c[2]) }
