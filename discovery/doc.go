// Package discovery makes Stikadoo Edge findable on the LAN over multicast
// DNS (DNS-SD): it advertises the OTA service as _xiaozhi._tcp and the web
// interface as _http._tcp on the interfaces that reach the LAN, keeps the
// advertisement in step with the machine's addresses, and says goodbye on
// shutdown. Browse finds such servers, for `stikadoo-edge discover`.
//
// It owns the choice of interfaces and the TXT records. It imports
// nothing of this module: cmd/stikadoo-edge hands it the port, paths,
// identity and version it advertises.
package discovery
