"""Secret shapes that must never leave the router: (name, text as it would appear, the secret).

Each text is how the secret shows up in the wild (a log line, a config dump, an env export, an
annotation); the third element is the part that must not survive redaction. All values are
fabricated: none is a real credential.
"""

from __future__ import annotations

_PEM_BODY = (
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
)
_JWT = ("eyJhbGciOiJSUzI1NiIsImtpZCI6IkNBTkFSWSJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW5"
        "0In0.Q2FuYXJ5U2lnbmF0dXJlVmFsdWVGb3JUZXN0aW5nT25seQ")

CANARIES: list[tuple[str, str, str]] = [
    ("aws-access-key-id", "export AWS_ACCESS_KEY_ID=AKIAZ7CANARYKEY12345", "AKIAZ7CANARYKEY12345"),
    ("aws-secret-key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARY01",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARY01"),
    ("gcp-service-account-json",
     '{"type": "service_account", "project_id": "shop", "private_key_id": '
     '"3f2a9c1e7b6d5a4f3e2d1c0b9a8f7e6d5c4b3a21", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
     + _PEM_BODY.replace("\n", "\\n") + '-----END PRIVATE KEY-----\\n"}',
     "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"),
    ("gcp-private-key-id", '"private_key_id": "3f2a9c1e7b6d5a4f3e2d1c0b9a8f7e6d5c4b3a21"',
     "3f2a9c1e7b6d5a4f3e2d1c0b9a8f7e6d5c4b3a21"),
    ("gcp-api-key", "maps client using key AIzaSyCanary0123456789abcdefghijklmnopq",
     "AIzaSyCanary0123456789abcdefghijklmnopq"),
    ("azure-storage-connection-string",
     "DefaultEndpointsProtocol=https;AccountName=shopdata;AccountKey=Q2FuYXJ5QXp1cmVLZXkw"
     "MTIzNDU2Nzg5QUJDREVGR0hJSktMTU5PUA==;EndpointSuffix=core.windows.net",
     "Q2FuYXJ5QXp1cmVLZXkwMTIzNDU2Nzg5QUJDREVGR0hJSktMTU5PUA=="),
    ("azure-sas-url", "GET https://shopdata.blob.core.windows.net/exports/a.csv?sv=2022-11-02&"
     "sp=r&sig=CanarySasSignature0123456789%2Babc%3D&se=2030-01-01", "CanarySasSignature0123456789"),
    ("azure-client-secret", "AZURE_CLIENT_SECRET value: Xy78Q~CanaryAzureClientSecret0123456789",
     "CanaryAzureClientSecret0123456789"),
    ("github-token", "cloning with ghp_CanaryGithubToken0123456789abcdefghij",
     "ghp_CanaryGithubToken0123456789abcdefghij"),
    ("github-fine-grained", "token github_pat_11CANARY0_abcdefghijklmnopqrstuvwxyz0123456789",
     "github_pat_11CANARY0_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("gitlab-token", "CI_JOB using glpat-CanaryGitlab01234567 to fetch", "glpat-CanaryGitlab01234567"),
    ("slack-bot-token", "slack client init xoxb-1234567890-0987654321-CanarySlackBotToken",
     "xoxb-1234567890-0987654321-CanarySlackBotToken"),
    ("slack-webhook", "posting to https://hooks.slack.com/services/T0CANARY/B0CANARY/CanaryWebhookSecret",
     "CanaryWebhookSecret"),
    ("jwt", f"validating id token {_JWT} for user", _JWT),
    ("bearer-header", f"request headers: {{'Authorization': 'Bearer {_JWT}'}}", _JWT),
    ("bearer-opaque", "curl -H 'Authorization: Bearer CanaryOpaqueBearer0123456789' http://api",
     "CanaryOpaqueBearer0123456789"),
    ("basic-auth-header", "upstream sent Authorization: Basic Y2FuYXJ5OmJhc2ljcGFzc3dvcmQ=",
     "Y2FuYXJ5OmJhc2ljcGFzc3dvcmQ="),
    ("basic-auth-url", "fetching https://deploy:CanaryUrlPassw0rd@artifacts.example.com/app.tgz",
     "CanaryUrlPassw0rd"),
    ("password-assignment", "config loaded: db_host=pg db_password=CanaryDbPassw0rd! retries=3",
     "CanaryDbPassw0rd!"),
    ("password-json", '{"user": "app", "password": "Canary pass phrase 42"}', "Canary pass phrase 42"),
    ("password-flag", "exec: pg_dump --host pg --password CanaryFlagPassw0rd --verbose",
     "CanaryFlagPassw0rd"),
    ("pem-rsa-key", "-----BEGIN RSA PRIVATE KEY-----\n" + _PEM_BODY + "-----END RSA PRIVATE KEY-----",
     "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu"),
    ("pem-openssh-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAACanaryOpenSSH\n"
     "-----END OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAACanaryOpenSSH"),
    ("stripe-key", "charging with sk_live_CanaryStripe0123456789abcd", "sk_live_CanaryStripe0123456789abcd"),
    ("postgres-url", "DATABASE_URL=postgres://orders:CanaryPgPass9@postgres.data.svc:5432/orders",
     "CanaryPgPass9"),
    ("mongodb-url", "connecting mongodb+srv://svc:CanaryMongoPass7@cluster0.example.net/db",
     "CanaryMongoPass7"),
    ("redis-url", "cache at redis://:CanaryRedisPass5@redis-master:6379/0", "CanaryRedisPass5"),
    ("kubernetes-sa-token", f"token: {_JWT}", _JWT),
    ("kubeconfig-client-key", "client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpDYW5hcnk=",
     "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpDYW5hcnk="),
    ("generic-api-key", "sdk configured api_key=CanaryGenericApiKey0123 region=eu",
     "CanaryGenericApiKey0123"),
    ("api-key-header", "x-api-key: CanaryHeaderApiKey0123456", "CanaryHeaderApiKey0123456"),
    ("openai-key", "llm client sk-proj-CanaryOpenAiKey0123456789abcdef", "sk-proj-CanaryOpenAiKey0123456789abcdef"),
    ("sendgrid-key", "mailer SG.CanarySendgrid012345.CanarySendgridSecret0123456789abcdefghijklmn",
     "CanarySendgridSecret0123456789"),
    ("npm-token", "//registry.npmjs.org/:_authToken=npm_CanaryNpmToken0123456789abcdefghijklm",
     "npm_CanaryNpmToken0123456789abcdefghijklm"),
    ("vault-token", "VAULT_TOKEN is hvs.CanaryVaultToken0123456789abc", "hvs.CanaryVaultToken0123456789abc"),
    ("docker-config-auth", '{"auths": {"registry.example.com": {"auth": "Y2FuYXJ5OmRvY2tlcnB3ZA=="}}}',
     "Y2FuYXJ5OmRvY2tlcnB3ZA=="),
    ("client-secret", "oauth: client_id=shop client_secret=CanaryOauthClientSecret01",
     "CanaryOauthClientSecret01"),
    ("short-pass-name", "export DB_PASS=CanaryDbPass0123", "CanaryDbPass0123"),
    ("pgpass-env", "PGPASS=CanaryPgPass456 psql -h db orders", "CanaryPgPass456"),
    ("yaml-block-password", "database:\n  password: |\n    CanaryYamlBlockSecret01\n  host: pg",
     "CanaryYamlBlockSecret01"),
    ("yaml-folded-token", "auth:\n  - token: >-\n      CanaryYamlFolded0123\n\n      more\n",
     "CanaryYamlFolded0123"),
    ("mysql-glued-password", "backup: mysqldump -uroot -pCanaryMysqlPass9 shop > shop.sql",
     "CanaryMysqlPass9"),
    # Seven digits: six would collide with the microseconds of timestamps in the e2e's files.
    ("short-numeric-password", "DB_PASSWORD=7351946 connecting", "7351946"),
    ("url-encoded-api-key", "GET /cb?next=%2Fapp%3Fapi_key%3DCanaryUrlEncKey0123%26x%3D1",
     "CanaryUrlEncKey0123"),
]
