package dev.herd.coordinator.api;

import dev.herd.coordinator.metrics.ServingMetrics;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.exporter.common.TextFormat;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The OpenAI-compatible HTTP API on Vert.x: {@code POST /v1/chat/completions}, {@code POST /v1/completions},
 * {@code GET /v1/models}, and {@code GET /health}, {@code /ready}, {@code /metrics}. It listens before the model is
 * loaded, answering 503 on {@code /ready} and {@code /v1/*} until {@link #ready} is called, so an orchestrator can
 * tell a live process from a serving one. Handlers never block the event loop.
 */
public final class ApiServer {
    private static final System.Logger LOG = System.getLogger(ApiServer.class.getName());
    private static final Set<String> ENDPOINTS = Set.of("/v1/chat/completions", "/v1/completions", "/v1/models",
            "/health", "/ready", "/metrics");

    private final Vertx vertx;
    private final ApiSettings settings;
    private final ServingMetrics metrics;
    private final CollectorRegistry registry;
    private final AtomicReference<ServedModel> model = new AtomicReference<>();
    private final List<byte[]> keys;
    private HttpServer server;

    /**
     * @param registry the registry {@code /metrics} exposes (the one {@code metrics} records into, plus whatever
     *                 else the caller registered)
     */
    public ApiServer(Vertx vertx, ApiSettings settings, ServingMetrics metrics, CollectorRegistry registry) {
        this.vertx = vertx;
        this.settings = settings;
        this.metrics = metrics;
        this.registry = registry;
        this.keys = settings.apiKeys().stream().map(k -> k.getBytes(StandardCharsets.UTF_8)).toList();
    }

    /** Starts listening; completes with the bound port. */
    public Future<Integer> start() {
        Router router = router();
        server = vertx.createHttpServer(new HttpServerOptions().setHost(settings.host()).setPort(settings.port()))
                .requestHandler(router);
        return server.listen().map(HttpServer::actualPort);
    }

    /** Serves {@code served} from now on: /ready turns 200 and /v1 answers. */
    public void ready(ServedModel served) {
        model.set(served);
    }

    public Future<Void> close() {
        return server == null ? Future.succeededFuture() : server.close();
    }

    private Router router() {
        Router router = Router.router(vertx);
        router.route().handler(this::countAtEnd);
        router.route().failureHandler(this::failure);
        router.get("/health").handler(ctx -> Responses.sendJson(ctx.response(), 200, Map.of("status", "ok")));
        router.get("/ready").handler(ctx -> {
            String unavailable = model.get() == null ? null : model.get().scheduler().unavailable();
            if (model.get() == null) {
                Responses.sendError(ctx.response(), notReady());
            } else if (unavailable != null) {
                Responses.sendError(ctx.response(), new ApiError(503, "server_error",
                        "the model cannot serve now: " + unavailable, null, "model_not_ready"));
            } else {
                Responses.sendJson(ctx.response(), 200, Map.of("status", "ready", "model", model.get().name()));
            }
        });
        router.get("/metrics").handler(this::metrics);
        router.route("/v1/*").handler(this::authenticate);
        router.route("/v1/*").handler(ctx -> {
            if (model.get() == null) {
                throw notReady();
            }
            ctx.next();
        });
        router.post("/v1/*").handler(BodyHandler.create(false).setBodyLimit(settings.maxBodyBytes()));
        router.post(Endpoint.CHAT.path).handler(new CompletionHandler(Endpoint.CHAT, model::get));
        router.post(Endpoint.TEXT.path).handler(new CompletionHandler(Endpoint.TEXT, model::get));
        router.get("/v1/models").handler(ctx -> {
            ServedModel m = model.get();
            Responses.sendJson(ctx.response(), 200, new OpenAiDto.ModelList("list",
                    List.of(new OpenAiDto.ModelCard(m.name(), "model", m.created(), "herd"))));
        });
        // whatever no route answered: a known path with another method is 405, anything else 404
        router.route().last().handler(ctx -> {
            String path = ctx.request().path();
            Responses.sendError(ctx.response(), ENDPOINTS.contains(path)
                    ? new ApiError(405, "invalid_request_error", ctx.request().method() + " is not allowed on " + path,
                    null, "method_not_allowed")
                    : new ApiError(404, "invalid_request_error", "no route for " + ctx.request().method() + " " + path,
                    null, "not_found"));
        });
        return router;
    }

    private void countAtEnd(RoutingContext ctx) {
        String path = ctx.request().path();
        String endpoint = ENDPOINTS.contains(path) ? path : "other";
        // a response that did not end normally lost its client (nginx's 499)
        ctx.addEndHandler(ar -> metrics.request(endpoint, ar.succeeded() ? ctx.response().getStatusCode() : 499));
        ctx.next();
    }

    private void authenticate(RoutingContext ctx) {
        if (keys.isEmpty()) {
            ctx.next();
            return;
        }
        String header = ctx.request().getHeader("Authorization");
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw new ApiError(401, "invalid_request_error",
                    "missing API key: send the header 'Authorization: Bearer <key>'", null, "invalid_api_key");
        }
        byte[] given = header.substring(7).trim().getBytes(StandardCharsets.UTF_8);
        boolean ok = false;
        for (byte[] key : keys) {
            ok |= MessageDigest.isEqual(key, given); // constant time in the key's content
        }
        if (!ok) {
            throw new ApiError(401, "invalid_request_error", "incorrect API key", null, "invalid_api_key");
        }
        ctx.next();
    }

    private void metrics(RoutingContext ctx) {
        StringWriter out = new StringWriter();
        try {
            TextFormat.write004(out, registry.metricFamilySamples());
        } catch (IOException e) {
            throw new UncheckedIOException("a StringWriter does not fail", e);
        }
        ctx.response().putHeader("Content-Type", TextFormat.CONTENT_TYPE_004).end(out.toString());
    }

    private void failure(RoutingContext ctx) {
        Throwable f = ctx.failure();
        ApiError error;
        if (f instanceof ApiError a) {
            error = a;
        } else if (ctx.statusCode() == 413) {
            error = new ApiError(413, "invalid_request_error", "the request body is larger than "
                    + settings.maxBodyBytes() + " bytes", null, "request_too_large");
        } else if (ctx.statusCode() >= 400 && ctx.statusCode() < 500) {
            error = new ApiError(ctx.statusCode(), "invalid_request_error", "the request was refused (HTTP "
                    + ctx.statusCode() + ")", null, null);
        } else {
            LOG.log(System.Logger.Level.ERROR, "unexpected failure on " + ctx.request().path(), f);
            error = new ApiError(500, "server_error", "internal error: " + f, null, null);
        }
        Responses.sendError(ctx.response(), error);
    }

    private static ApiError notReady() {
        return new ApiError(503, "server_error", "the model is still loading", null, "model_not_ready");
    }
}
