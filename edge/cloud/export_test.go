package cloud

import "context"

// SetCheck replaces the probe's network check, for tests of the probe
// loop that must not depend on the network.
func (c *Client) SetCheck(f func(ctx context.Context) error) { c.check = f }
