// ILM: what `PUT /_ilm/policy/<name>` runs before it stores a policy.
import java.util.List;

import org.elasticsearch.action.ActionRequestValidationException;
import org.elasticsearch.xcontent.NamedXContentRegistry;
import org.elasticsearch.xcontent.ParseField;
import org.elasticsearch.xcontent.XContentParser;
import org.elasticsearch.xcontent.XContentParserConfiguration;
import org.elasticsearch.xpack.core.ilm.AllocateAction;
import org.elasticsearch.xpack.core.ilm.DeleteAction;
import org.elasticsearch.xpack.core.ilm.DownsampleAction;
import org.elasticsearch.xpack.core.ilm.ForceMergeAction;
import org.elasticsearch.xpack.core.ilm.FreezeAction;
import org.elasticsearch.xpack.core.ilm.LifecycleAction;
import org.elasticsearch.xpack.core.ilm.LifecyclePolicy;
import org.elasticsearch.xpack.core.ilm.LifecycleType;
import org.elasticsearch.xpack.core.ilm.MigrateAction;
import org.elasticsearch.xpack.core.ilm.Phase;
import org.elasticsearch.xpack.core.ilm.ReadOnlyAction;
import org.elasticsearch.xpack.core.ilm.RolloverAction;
import org.elasticsearch.xpack.core.ilm.SearchableSnapshotAction;
import org.elasticsearch.xpack.core.ilm.SetPriorityAction;
import org.elasticsearch.xpack.core.ilm.ShrinkAction;
import org.elasticsearch.xpack.core.ilm.TimeseriesLifecycleType;
import org.elasticsearch.xpack.core.ilm.UnfollowAction;
import org.elasticsearch.xpack.core.ilm.WaitForSnapshotAction;
import org.elasticsearch.xpack.core.ilm.action.PutLifecycleRequest;

final class IlmCheck {
    /** The lifecycle type and actions, registered the way the ILM plugin registers them. */
    private final XContentParserConfiguration config = XContentParserConfiguration.EMPTY.withRegistry(
        new NamedXContentRegistry(
            List.of(
                new NamedXContentRegistry.Entry(LifecycleType.class, new ParseField(TimeseriesLifecycleType.TYPE), p -> TimeseriesLifecycleType.INSTANCE),
                action(AllocateAction.NAME, AllocateAction::parse),
                action(WaitForSnapshotAction.NAME, WaitForSnapshotAction::parse),
                action(SearchableSnapshotAction.NAME, SearchableSnapshotAction::parse),
                action(DeleteAction.NAME, DeleteAction::parse),
                action(ForceMergeAction.NAME, ForceMergeAction::parse),
                action(ReadOnlyAction.NAME, ReadOnlyAction::parse),
                action(RolloverAction.NAME, RolloverAction::parse),
                action(ShrinkAction.NAME, ShrinkAction::parse),
                action(FreezeAction.NAME, FreezeAction::parse),
                action(SetPriorityAction.NAME, SetPriorityAction::parse),
                action(MigrateAction.NAME, MigrateAction::parse),
                action(UnfollowAction.NAME, UnfollowAction::parse),
                action(DownsampleAction.NAME, DownsampleAction::parse)
            )
        )
    );

    interface Parse {
        LifecycleAction parse(XContentParser p) throws Exception;
    }

    private static NamedXContentRegistry.Entry action(String name, Parse parse) {
        return new NamedXContentRegistry.Entry(LifecycleAction.class, new ParseField(name), p -> {
            try {
                return parse.parse(p);
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    /** Returns the exception Elasticsearch answers with, or null when it stores the policy. */
    Exception check(PolicyValidator.Input input) {
        try {
            // REST layer: parse {"policy": {...}} with the name from the path.
            PutLifecycleRequest request;
            try (XContentParser p = PolicyValidator.parser(input.body(), config)) {
                request = PutLifecycleRequest.parseRequest(new PutLifecycleRequest.Factory() {
                    @Override
                    public PutLifecycleRequest create(LifecyclePolicy policy) {
                        return new PutLifecycleRequest(PolicyValidator.TIMEOUT, PolicyValidator.TIMEOUT, policy);
                    }

                    @Override
                    public String getPolicyName() {
                        return input.name();
                    }
                }, p);
            }
            // Transport layer: the request's own validation (the policy's and the phase timing).
            ActionRequestValidationException invalid = request.validate();
            if (invalid != null) {
                return invalid;
            }
            // Master operation: the name, then the cluster-state prerequisites.
            LifecyclePolicy policy = request.getPolicy();
            LifecyclePolicy.validatePolicyName(policy.getName());
            for (Phase phase : policy.getPhases().values()) {
                if (input.repositories() != null
                    && phase.getActions().get(SearchableSnapshotAction.NAME) instanceof SearchableSnapshotAction s
                    && input.repositories().contains(s.getSnapshotRepository()) == false) {
                    return new IllegalArgumentException(
                        "no such repository [" + s.getSnapshotRepository() + "], the snapshot repository referenced by the ["
                            + SearchableSnapshotAction.NAME + "] action in the [" + phase.getName()
                            + "] phase must exist before it can be referenced by an ILM policy"
                    );
                }
                if (input.slmPolicies() != null
                    && phase.getActions().get(WaitForSnapshotAction.NAME) instanceof WaitForSnapshotAction w
                    && input.slmPolicies().contains(w.getPolicy()) == false) {
                    return new IllegalArgumentException(
                        "no such snapshot lifecycle policy [" + w.getPolicy() + "], the snapshot lifecycle policy referenced by the ["
                            + WaitForSnapshotAction.NAME + "] action in the [" + phase.getName()
                            + "] phase must exist before it can be referenced by an ILM policy"
                    );
                }
            }
            return null;
        } catch (Exception e) {
            return e;
        }
    }
}
