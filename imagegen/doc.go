// Package imagegen turns a child's words into a sticker the Stikadoo
// printer prints as is: a prompt built from a template, a configurable
// image model backend (the OpenAI Images API shape, the sdapi txt2img
// shape, DashScope's asynchronous text-to-image), a word filter for
// classrooms, and a renderer that makes a pure black-and-white PNG exactly
// as wide as the print head (and the ESC/POS raster form for printers
// wired to the Pi). When no backend answers, a fallback sticker sets the
// words in a decorated frame, drawn on the Pi.
//
// It imports edge/proto only (for proto.Sticker and the shared sentinel
// errors) and never the gateway.
package imagegen
