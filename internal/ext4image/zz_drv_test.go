package ext4image

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestZZDriver(t *testing.T) {
	src := os.Getenv("DRV_SRC")
	if src == "" {
		t.Skip()
	}
	ep, _ := strconv.ParseInt(os.Getenv("DRV_EPOCH"), 10, 64)
	start := time.Now()
	res, err := Build(src, os.Getenv("DRV_OUT"), Options{Epoch: ep, Staging: os.Getenv("DRV_STAGING")})
	t.Logf("%v %+v %v", time.Since(start), res, err)
}
