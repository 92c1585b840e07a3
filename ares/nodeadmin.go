package ares

import (
	"context"
	"net/http"
)

// NodeView is what the admin endpoints report about the node itself: its models
// (local, network, upstream) and its subsystems.
type NodeView interface {
	AdminModels(ctx context.Context) []AdminModel
	Services(ctx context.Context) map[string]Service
}

// AdminModel is one model in GET /api/admin/models: the documented id, provider,
// context_length and supports_tools, and what aria adds (kind: local, network or
// upstream; the provider's model_id; the tier it serves).
type AdminModel struct {
	ID            string `json:"id"`
	Provider      string `json:"provider"`
	ContextLength int    `json:"context_length"`
	SupportsTools bool   `json:"supports_tools"`
	Kind          string `json:"kind"`
	ModelID       string `json:"model_id"`
	Tier          string `json:"tier,omitempty"`
	OwnedBy       string `json:"owned_by,omitempty"`
}

// Service is one subsystem in GET /api/admin/services: the documented status
// (running, stopped, degraded), pid and port, and a line of detail.
type Service struct {
	Status string `json:"status"`
	PID    *int   `json:"pid"`
	Port   *int   `json:"port"`
	Detail string `json:"detail,omitempty"`
}

// nodeAdminRoutes are the admin routes about the node: models and services, and the
// ARES hosting endpoints (deploys, journald logs), which an aria node does not have.
func (p *Platform) nodeAdminRoutes() []route {
	notHosted := func(what string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			writeARES(w, http.StatusNotImplemented, "NOT_IMPLEMENTED", what+" is not available on an aria node: it is about hosting the ARES server itself (systemd, journald, builds on a VPS); run and update aria with your own service manager")
		}
	}
	return []route{
		{"/api/admin/models", map[string]http.HandlerFunc{"GET": p.adminModels}},
		{"/api/admin/services", map[string]http.HandlerFunc{"GET": p.adminServices}},
		{"/api/admin/services/{name}/logs", map[string]http.HandlerFunc{"GET": notHosted("Service logs (journald)")}},
		{"/api/admin/deploy", map[string]http.HandlerFunc{"POST": notHosted("Deployment")}},
		{"/api/admin/deploy/{id}", map[string]http.HandlerFunc{"GET": notHosted("Deployment")}},
		{"/api/admin/deploys", map[string]http.HandlerFunc{"GET": notHosted("Deployment")}},
	}
}

func (p *Platform) adminModels(w http.ResponseWriter, r *http.Request) {
	models := []AdminModel{}
	if p.cfg.Node != nil {
		models = append(models, p.cfg.Node.AdminModels(r.Context())...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
}

func (p *Platform) adminServices(w http.ResponseWriter, r *http.Request) {
	services := map[string]Service{}
	if p.cfg.Node != nil {
		services = p.cfg.Node.Services(r.Context())
	}
	writeJSON(w, http.StatusOK, services)
}
