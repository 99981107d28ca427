{{/* Names and labels. */}}
{{- define "lifecycle.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lifecycle.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "orchestrator") */}}
{{- define "lifecycle.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lifecycle.image" -}}
{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end -}}

{{- define "lifecycle.kafkaCluster" -}}
{{- default (printf "%s-kafka" (include "lifecycle.fullname" .)) .Values.kafka.strimzi.clusterName -}}
{{- end -}}

{{/* The KafkaUser (and its Secret) of a service: (dict "root" $ "service" "marketing") */}}
{{- define "lifecycle.kafkaUser" -}}
{{- printf "%s-%s" (include "lifecycle.fullname" .root) .service -}}
{{- end -}}

{{- define "lifecycle.apiKeysSecret" -}}
{{- default (printf "%s-api-keys" (include "lifecycle.fullname" .)) .Values.apiKeys.existingSecret -}}
{{- end -}}

{{- define "lifecycle.inboxSecret" -}}
{{- default (printf "%s-inbox" (include "lifecycle.fullname" .)) .Values.inbox.existingSecret -}}
{{- end -}}

{{- define "lifecycle.clusterSecret" -}}
{{- default (printf "%s-orchestrator-cluster" (include "lifecycle.fullname" .)) .Values.orchestrator.clusterSecret.existingSecret -}}
{{- end -}}

{{- define "lifecycle.headless" -}}
{{- printf "%s-orchestrator-workers" (include "lifecycle.fullname" .) -}}
{{- end -}}

{{/*
Kafka client settings of one service (the variable names every client reads):
(dict "root" $ "service" "marketing")
*/}}
{{- define "lifecycle.kafkaEnv" -}}
{{- $root := .root -}}
{{- $service := .service -}}
{{- if eq $root.Values.kafka.mode "strimzi" }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ printf "%s-kafka-bootstrap.%s.svc:9093" (include "lifecycle.kafkaCluster" $root) $root.Release.Namespace | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: SASL_SSL
- name: KAFKA_SASL_MECHANISM
  value: SCRAM-SHA-512
- name: KAFKA_SASL_USERNAME
  value: {{ include "lifecycle.kafkaUser" (dict "root" $root "service" $service) | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "lifecycle.kafkaUser" (dict "root" $root "service" $service) }}
      key: password
- name: KAFKA_SSL_CA_FILE
  value: /etc/lifecycle/kafka-ca/ca.crt
{{- else }}
{{- $external := $root.Values.kafka.external }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "kafka.external.bootstrapServers is required when kafka.mode is external" $external.bootstrapServers | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ $external.securityProtocol | quote }}
{{- if hasPrefix "SASL" $external.securityProtocol }}
{{- $credentials := required (printf "kafka.external.credentialsSecrets.%s is required with SASL" $service) (index $external.credentialsSecrets $service) }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $external.saslMechanism | quote }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $credentials }}
      key: username
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $credentials }}
      key: password
{{- end }}
{{- if $external.caSecret.name }}
- name: KAFKA_SSL_CA_FILE
  value: /etc/lifecycle/kafka-ca/{{ $external.caSecret.key }}
{{- end }}
{{- if index $external.clientCertSecrets $service }}
- name: KAFKA_SSL_CERT_FILE
  value: /etc/lifecycle/kafka-client/tls.crt
- name: KAFKA_SSL_KEY_FILE
  value: /etc/lifecycle/kafka-client/tls.key
{{- end }}
{{- end }}
{{- if $root.Values.topicPrefix }}
- name: LIFECYCLE_TOPIC_PREFIX
  value: {{ $root.Values.topicPrefix | quote }}
{{- end }}
{{- end -}}

{{/* Volumes for the Kafka CA and client certificate: (dict "root" $ "service" "marketing") */}}
{{- define "lifecycle.kafkaVolumes" -}}
{{- $root := .root -}}
{{- if eq $root.Values.kafka.mode "strimzi" }}
- name: kafka-ca
  secret:
    secretName: {{ printf "%s-cluster-ca-cert" (include "lifecycle.kafkaCluster" $root) }}
    items: [{key: ca.crt, path: ca.crt}]
{{- else }}
{{- if $root.Values.kafka.external.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ $root.Values.kafka.external.caSecret.name }}
{{- end }}
{{- with index $root.Values.kafka.external.clientCertSecrets .service }}
- name: kafka-client
  secret:
    secretName: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "lifecycle.kafkaMounts" -}}
{{- $root := .root -}}
{{- if or (eq $root.Values.kafka.mode "strimzi") $root.Values.kafka.external.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/lifecycle/kafka-ca
  readOnly: true
{{- end }}
{{- if and (ne $root.Values.kafka.mode "strimzi") (index $root.Values.kafka.external.clientCertSecrets .service) }}
- name: kafka-client
  mountPath: /etc/lifecycle/kafka-client
  readOnly: true
{{- end }}
{{- end -}}

{{/* Crypto-shredding, the same on every service. */}}
{{- define "lifecycle.shreddingEnv" -}}
{{- if .Values.shredding.enabled }}
- name: LIFECYCLE_SHREDDING
  value: "true"
- name: LIFECYCLE_SHREDDING_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ required "shredding.existingSecret is required when shredding is enabled" .Values.shredding.existingSecret }}
      key: shredding-secret
{{- end }}
{{- end -}}
