// SLM: what `PUT /_slm/policy/<id>` runs before it stores a policy.
import java.time.Clock;

import org.elasticsearch.action.ActionRequestValidationException;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.core.TimeValue;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.XContentParserConfiguration;
import org.elasticsearch.xpack.core.ilm.LifecyclePolicy;
import org.elasticsearch.xpack.core.ilm.LifecycleSettings;
import org.elasticsearch.xpack.core.slm.SnapshotLifecyclePolicy;
import org.elasticsearch.xpack.core.slm.action.PutSnapshotLifecycleAction;

final class SlmCheck {
    /** `slm.minimum_interval` at its default. */
    private final TimeValue minimum = LifecycleSettings.SLM_MINIMUM_INTERVAL_SETTING.get(Settings.EMPTY);

    /** Returns the exception Elasticsearch answers with, or null when it stores the policy. */
    Exception check(PolicyValidator.Input input) {
        try {
            // REST layer: parse the policy with the id from the path.
            PutSnapshotLifecycleAction.Request request;
            try (XContentParser p = PolicyValidator.parser(input.body(), XContentParserConfiguration.EMPTY)) {
                request = PutSnapshotLifecycleAction.Request.parseRequest(PolicyValidator.TIMEOUT, PolicyValidator.TIMEOUT, input.name(), p);
            }
            // Transport layer: the policy's validate() (id, name date math, cron, repository, retention).
            ActionRequestValidationException invalid = request.validate();
            if (invalid != null) {
                return invalid;
            }
            // Master operation: repository exists, minimum interval, policy name.
            SnapshotLifecyclePolicy policy = request.getLifecycle();
            if (input.repositories() != null && input.repositories().contains(policy.getRepository()) == false) {
                return new IllegalArgumentException("no such repository [" + policy.getRepository() + "]");
            }
            TimeValue next = policy.calculateNextInterval(Clock.systemUTC());
            if (next.duration() > 0 && minimum.duration() > 0 && next.millis() < minimum.millis()) {
                return new IllegalArgumentException(
                    "invalid schedule [" + policy.getSchedule() + "]: schedule would be too frequent, executing more than every ["
                        + minimum.getStringRep() + "]"
                );
            }
            LifecyclePolicy.validatePolicyName(request.getLifecycleId());
            return null;
        } catch (Exception e) {
            return e;
        }
    }
}
