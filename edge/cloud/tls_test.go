package cloud_test

import (
	"crypto/tls"

	"github.com/stikadoo/stikadoo-edge/edge/cloud/cloudtest"
)

func tlsFor(gw *cloudtest.Gateway) *tls.Config { return &tls.Config{RootCAs: gw.RootCAs()} }
