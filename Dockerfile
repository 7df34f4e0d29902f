# destill: one static binary for every agent (ingest, analyze, sink) and the CLI.
FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/destill ./cmd/destill

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/destill /usr/local/bin/destill
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/destill"]
