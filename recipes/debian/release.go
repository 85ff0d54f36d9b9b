package debian

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"pault.ag/go/debian/control"
)

// release is the verified content of a suite's InRelease.
type release struct {
	Suite    string
	Codename string
	Date     string
	// ValidUntil, NotAutomatic and ButAutomaticUpgrades are the Release
	// fields apt reads for expiry and for a suite's default pin.
	ValidUntil           string
	NotAutomatic         bool
	ButAutomaticUpgrades bool
	SHA256               string             // of the InRelease file itself
	SignedBy             []string           // fingerprints of the keys whose signatures verified
	Files                map[string]fileRef // path relative to dists/<suite>/ -> size and digest
}

type fileRef struct {
	Size   int64
	SHA256 string
}

// loadKeyring reads an OpenPGP keyring, binary (as Debian ships it) or armored.
func loadKeyring(path string) (openpgp.EntityList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading keyring: %w (install debian-archive-keyring, or set debian.keyring in the recipe)", err)
	}
	if keys, err := openpgp.ReadKeyRing(bytes.NewReader(data)); err == nil && len(keys) > 0 {
		return keys, nil
	}
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil || len(keys) == 0 {
		return nil, fmt.Errorf("keyring %s holds no OpenPGP keys", path)
	}
	return keys, nil
}

// verifyRelease checks the clear-signed InRelease against the keyring and
// parses the signed text. Only the signed text is ever read: anything outside
// the signature is ignored.
func verifyRelease(url string, data []byte, keyring openpgp.EntityList) (*release, error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s is not a clear-signed OpenPGP message", url)
	}
	signers, err := checkSignatures(block, keyring)
	if err != nil {
		return nil, fmt.Errorf("%s: signature check failed: %v: the index may have been tampered with or the mirror is broken; refusing it", url, err)
	}
	r, err := parseRelease(block.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	r.SHA256 = sha256Hex(data)
	r.SignedBy = signers
	return r, nil
}

// checkSignatures verifies the block against the keyring and returns the
// fingerprint of the key that signed it. Debian signs InRelease with several
// keys at once; one by a key of the keyring is required.
func checkSignatures(block *clearsign.Block, keyring openpgp.EntityList) ([]string, error) {
	signer, err := block.VerifySignature(keyring, nil)
	if err != nil {
		return nil, err
	}
	return []string{strings.ToUpper(fmt.Sprintf("%x", signer.PrimaryKey.Fingerprint))}, nil
}

func parseRelease(text []byte) (*release, error) {
	reader, err := control.NewParagraphReader(bufio.NewReader(bytes.NewReader(text)), nil)
	if err != nil {
		return nil, err
	}
	para, err := reader.Next()
	if err != nil {
		return nil, fmt.Errorf("parsing Release fields: %w", err)
	}
	r := &release{
		Suite:    para.Values["Suite"],
		Codename: para.Values["Codename"],
		Date:     para.Values["Date"],
		Files:    map[string]fileRef{},

		ValidUntil:           para.Values["Valid-Until"],
		NotAutomatic:         strings.EqualFold(para.Values["NotAutomatic"], "yes"),
		ButAutomaticUpgrades: strings.EqualFold(para.Values["ButAutomaticUpgrades"], "yes"),
	}
	for _, line := range strings.Split(para.Values["SHA256"], "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad size in SHA256 line %q", line)
		}
		r.Files[f[2]] = fileRef{Size: size, SHA256: f[0]}
	}
	if len(r.Files) == 0 {
		return nil, fmt.Errorf("the Release has no SHA256 file list")
	}
	return r, nil
}
