package ares

import "net/http"

type methods = map[string]http.HandlerFunc

// agentAdminRoutes are the admin views of tenants' agents, runs and stats.
func (p *Platform) agentAdminRoutes() []route {
	return []route{
		{"/api/admin/tenants/{id}/agents", methods{"GET": p.adminAgents, "POST": p.adminCreateAgent}},
		{"/api/admin/tenants/{id}/agents/{name}", methods{"GET": p.adminGetAgent, "PUT": p.adminUpdateAgent, "DELETE": p.adminDeleteAgent}},
		{"/api/admin/tenants/{id}/agents/{name}/runs", methods{"GET": p.adminRuns}},
		{"/api/admin/tenants/{id}/agents/{name}/stats", methods{"GET": p.adminAgentStats}},
		{"/api/admin/agents", methods{"GET": p.adminAllAgents}},
	}
}

// agentRoutes adds chat, agents, conversations, workflows, research and memory.
func (p *Platform) agentRoutes(mux *http.ServeMux) {
	// /v1: a tenant key, metered; a loopback node in open mode serves them unmetered.
	for _, rt := range []route{
		{"/v1/chat", methods{"POST": p.chat}},
		{"/v1/chat/stream", methods{"POST": p.chatStream}},
		{"/v1/agents/{name}/run", methods{"POST": p.v1Run}},
	} {
		mux.Handle(rt.pattern, p.meterOpen(dispatch(rt.methods), shapeARES, true, true))
	}
	for _, rt := range []route{
		{"/v1/agents", methods{"GET": p.v1Agents}},
		{"/v1/agents/{name}", methods{"GET": p.v1Agent}},
		{"/v1/agents/{name}/runs", methods{"GET": p.v1Runs}},
	} {
		mux.Handle(rt.pattern, p.meterOpen(dispatch(rt.methods), shapeARES, false, true))
	}
	// /api: a JWT or a key (required in auth mode); model-running routes are metered.
	for _, rt := range []route{
		{"/api/chat", methods{"POST": p.chat}},
		{"/api/chat/stream", methods{"POST": p.chatStream}},
		{"/api/workflows/{name}", methods{"POST": p.runWorkflow}},
		{"/api/research", methods{"POST": p.research}},
	} {
		mux.Handle(rt.pattern, p.meterSession(dispatch(rt.methods)))
	}
	for _, rt := range []route{
		{"/api/conversations", methods{"GET": p.listConversations}},
		{"/api/conversations/{id}", methods{"GET": p.getConversation, "PUT": p.updateConversation, "DELETE": p.deleteConversation}},
		{"/api/workflows", methods{"GET": p.listWorkflows}},
		{"/api/memory", methods{"GET": p.memory}},
	} {
		mux.Handle(rt.pattern, p.session(dispatch(rt.methods)))
	}
	for _, rt := range []route{
		{"/api/user/agents", methods{"GET": p.userAgents, "POST": p.createUserAgent}},
		{"/api/user/agents/import", methods{"POST": p.importAgents}},
		{"/api/user/agents/{name}", methods{"GET": p.getUserAgent, "PUT": p.updateUserAgent, "DELETE": p.deleteUserAgent}},
		{"/api/user/agents/{name}/export", methods{"GET": p.exportAgent}},
	} {
		mux.Handle(rt.pattern, p.requireSession(dispatch(rt.methods)))
	}
	mux.Handle("/api/agents", dispatch(methods{"GET": p.publicAgents}))
}
