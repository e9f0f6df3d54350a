// Checks ILM and SLM policy bodies with Elasticsearch's own parsing and validation code
// (x-pack-core), the way `PUT /_ilm/policy/<name>` and `PUT /_slm/policy/<id>` do, without a
// cluster. Built and run by hack/es-policy-validator.sh.
//
// Input, one JSON object per line on stdin:
//   {"kind":"ilm"|"slm","name":"<policy name or id>","body":{...the body as PUT...},
//    "repositories":["<name>",...],   optional: the cluster's snapshot repositories
//    "slm_policies":["<id>",...]}     optional: the cluster's SLM policies
// Output, one line per input line, in order:
//   {"valid":true}
//   {"valid":false,"type":"<error.type>","reason":"<error.reason>",
//    "root_cause_type":"...","root_cause_reason":"..."}
// `type`/`reason` are what the REST layer puts in `error.type`/`error.reason` (the outermost
// exception); the root cause is the innermost one. Cluster-state checks (repository exists,
// SLM policy exists) run only when the optional lists are given.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.elasticsearch.ElasticsearchException;
import org.elasticsearch.common.bytes.BytesReference;
import org.elasticsearch.core.TimeValue;
import org.elasticsearch.xcontent.DeprecationHandler;
import org.elasticsearch.xcontent.XContentBuilder;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.XContentParserConfiguration;
import org.elasticsearch.xcontent.json.JsonXContent;

public final class PolicyValidator {
    /** One request line: what to check and against which (optional) cluster state. */
    record Input(String kind, String name, BytesReference body, List<String> repositories, List<String> slmPolicies) {}

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        IlmCheck ilm = new IlmCheck();
        SlmCheck slm = new SlmCheck();
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            Exception failure;
            try {
                Input input = read(line);
                failure = switch (input.kind()) {
                    case "ilm" -> ilm.check(input);
                    case "slm" -> slm.check(input);
                    default -> new IllegalArgumentException("validator: unknown kind [" + input.kind() + "]");
                };
            } catch (Exception e) {
                failure = e;
            }
            out.println(result(failure));
            out.flush();
        }
    }

    /** Reads a request line, keeping the body's bytes exactly as sent (no map round trip). */
    static Input read(String line) throws Exception {
        String kind = null;
        String name = null;
        BytesReference body = null;
        List<String> repositories = null;
        List<String> slmPolicies = null;
        try (XContentParser p = JsonXContent.jsonXContent.createParser(XContentParserConfiguration.EMPTY, line)) {
            if (p.nextToken() != XContentParser.Token.START_OBJECT) {
                throw new IllegalArgumentException("validator: a line must be a JSON object");
            }
            while (p.nextToken() == XContentParser.Token.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                switch (field) {
                    case "kind" -> kind = p.text();
                    case "name" -> name = p.text();
                    case "body" -> {
                        try (XContentBuilder b = JsonXContent.contentBuilder()) {
                            b.copyCurrentStructure(p);
                            body = BytesReference.bytes(b);
                        }
                    }
                    case "repositories" -> repositories = strings(p);
                    case "slm_policies" -> slmPolicies = strings(p);
                    default -> p.skipChildren();
                }
            }
        }
        if (kind == null || name == null || body == null) {
            throw new IllegalArgumentException("validator: a line needs kind, name and body");
        }
        return new Input(kind, name, body, repositories, slmPolicies);
    }

    private static List<String> strings(XContentParser p) throws Exception {
        List<String> out = new ArrayList<>();
        for (Object o : p.list()) {
            out.add(String.valueOf(o));
        }
        return out;
    }

    /** A parser for a body, as the REST layer makes it for a request's content. */
    static XContentParser parser(BytesReference body, XContentParserConfiguration config) throws Exception {
        return JsonXContent.jsonXContent.createParser(
            config.withDeprecationHandler(DeprecationHandler.IGNORE_DEPRECATIONS),
            body.streamInput()
        );
    }

    static String result(Exception failure) throws Exception {
        try (XContentBuilder b = JsonXContent.contentBuilder()) {
            b.startObject();
            if (failure == null) {
                b.field("valid", true);
            } else {
                Throwable root = failure;
                while (root.getCause() != null && root.getCause() != root) {
                    root = root.getCause();
                }
                b.field("valid", false);
                b.field("type", ElasticsearchException.getExceptionName(failure));
                b.field("reason", failure.getMessage());
                b.field("root_cause_type", ElasticsearchException.getExceptionName(root));
                b.field("root_cause_reason", root.getMessage());
            }
            b.endObject();
            return BytesReference.bytes(b).utf8ToString();
        }
    }

    static final TimeValue TIMEOUT = TimeValue.timeValueSeconds(30);
}
