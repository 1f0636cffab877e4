// Package imagegentest holds fakes of the image model services package
// imagegen speaks to, for tests of the backends, the sticker generator,
// the gateway end to end and the command line: the OpenAI Images API,
// the sdapi txt2img API (AUTOMATIC1111, Forge, stable-diffusion.cpp) and
// DashScope's asynchronous text-to-image.
//
// Each fake answers with the real service's wire format, success and
// errors alike (status codes, error bodies, headers), checks credentials
// the way the service does, and records every request. Settable fields
// choose a failure: a status for the first N calls, Retry-After, a
// content-policy refusal, a slow answer, invalid base64, a huge body, an
// image whose header claims enormous dimensions. Set the fields before
// the first request, or later through Update.
//
// Nothing here is used by the daemon's production paths. The package
// imports only the standard library and must not import imagegen, so that
// imagegen's own tests can use it.
package imagegentest
