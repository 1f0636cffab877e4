package edge

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// metrics are the gateway's Prometheus metrics, in a registry of the
// Server's own (so that two servers in one process do not collide),
// served at /metrics.
type metrics struct {
	reg   *prometheus.Registry
	turns *prometheus.CounterVec   // by outcome
	stage *prometheus.HistogramVec // seconds, by stage
}

// stageBuckets are the stage-time buckets, in seconds: a short request
// transcribes in well under a second on a Pi 5, an image model takes
// seconds to minutes, and a printer takes seconds.
var stageBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stikadoo_turns_total", Help: "Turns ended, by outcome (ok, no_speech, stt_unavailable, ...).",
		}, []string{"outcome"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "stikadoo_turn_stage_seconds", Help: "Time of each stage of a turn: stt, image, deliver and the whole turn (total).",
			Buckets: stageBuckets,
		}, []string{"stage"}),
	}
	available := func(ok func() bool) func() float64 {
		return func() float64 {
			if ok() {
				return 1
			}
			return 0
		}
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.turns, m.stage,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stikadoo_sessions", Help: "Device sessions open now.",
		}, func() float64 { return float64(s.active.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stikadoo_sessions_max", Help: "Device sessions allowed at once.",
		}, func() float64 { return float64(s.cfg.MaxSessions) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "stikadoo_sessions_refused_total", Help: "WebSocket upgrades refused because the server was full.",
		}, func() float64 { return float64(s.refused.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stikadoo_stt_available", Help: "1 when speech recognition is set up.",
		}, available(func() bool { return s.sttNotReady() == "" })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stikadoo_images_available", Help: "1 when sticker generation is set up.",
		}, available(func() bool { return s.deps.Images != nil })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "stikadoo_build_info", Help: "Always 1; the version label says which build runs.",
			ConstLabels: prometheus.Labels{"version": s.cfg.Version},
		}, func() float64 { return 1 }),
	)
	if c := s.deps.Cloud; c != nil {
		m.reg.MustRegister(cloudMetrics(s, c)...)
	}
	return m
}

// cloudMetrics export the cloud's part of the health report. The last
// error stays in the health report: as a label it would make a new series
// for every distinct message.
func cloudMetrics(s *Server, c Cloud) []prometheus.Collector {
	gauge := func(name, help string, f func(proto.CloudState) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(c.State()) })
	}
	counter := func(name, help string, f func(proto.CloudState) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(c.State())) })
	}
	return []prometheus.Collector{
		gauge("stikadoo_cloud_reachable", "1 when the last probe of the cloud backend succeeded.", func(st proto.CloudState) float64 {
			if st.Reachable {
				return 1
			}
			return 0
		}),
		gauge("stikadoo_cloud_unreachable_since_seconds", "Unix time since when the cloud has been unreachable; 0 while it is reachable.", func(st proto.CloudState) float64 {
			if st.UnreachableSince.IsZero() {
				return 0
			}
			return float64(st.UnreachableSince.Unix())
		}),
		gauge("stikadoo_cloud_breaker_state", "Circuit breaker around cloud connections: 0 closed, 1 half-open, 2 open.", func(st proto.CloudState) float64 {
			switch st.Breaker {
			case proto.BreakerHalfOpen:
				return 1
			case proto.BreakerOpen:
				return 2
			}
			return 0
		}),
		counter("stikadoo_cloud_dials_total", "Connections to the cloud tried.", func(st proto.CloudState) int64 { return st.Dials }),
		counter("stikadoo_cloud_dial_failures_total", "Connections to the cloud that failed to open.", func(st proto.CloudState) int64 { return st.DialFailures }),
		counter("stikadoo_cloud_drops_total", "Cloud connections lost while open.", func(st proto.CloudState) int64 { return st.Drops }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "stikadoo_cloud_relayed_turns_total", Help: "Turns relayed to the cloud.",
		}, func() float64 { return float64(s.relayed.Load()) }),
	}
}

// observeTurn counts an ended turn and its stage times.
func (m *metrics) observeTurn(t proto.Turn) {
	m.turns.WithLabelValues(t.Outcome).Inc()
	for stage, ms := range t.TimingsMs {
		m.stage.WithLabelValues(stage).Observe(float64(ms) / 1000)
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Timeout: 10 * time.Second})
}

// RegisterMetrics adds collectors of the daemon's other parts (the speech
// queue, the cloud link) to the metrics served at /metrics.
func (s *Server) RegisterMetrics(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := s.metrics.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
