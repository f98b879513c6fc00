"""Initial schema: every entity of the architecture note (reviewed by hand).

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 11:31:08.252013

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('metrics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('name_zh', sa.String(length=120), nullable=True),
    sa.Column('unit', sa.String(length=30), nullable=False),
    sa.Column('kind', sa.Enum('continuous', 'proportion', 'count', name='metrickind', native_enum=False), nullable=False),
    sa.Column('better_direction', sa.Enum('increase', 'decrease', name='direction', native_enum=False), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metrics'))
    )
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metrics_key'), ['key'], unique=True)

    op.create_table('sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('region', sa.String(length=80), nullable=False),
    sa.Column('city', sa.String(length=80), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('size_tier', sa.Enum('small', 'medium', 'large', name='sizetier', native_enum=False), nullable=False),
    sa.Column('staff_count', sa.Integer(), nullable=True),
    sa.Column('management_score', sa.Double(), nullable=True),
    sa.Column('digital_readiness', sa.Double(), nullable=True),
    sa.Column('senior_share', sa.Double(), nullable=True),
    sa.Column('daily_orders', sa.Double(), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('digital_readiness IS NULL OR (digital_readiness BETWEEN 0 AND 100)', name=op.f('ck_sites_digital_readiness_range')),
    sa.CheckConstraint('management_score IS NULL OR (management_score BETWEEN 0 AND 100)', name=op.f('ck_sites_management_score_range')),
    sa.CheckConstraint('senior_share IS NULL OR (senior_share BETWEEN 0 AND 1)', name=op.f('ck_sites_senior_share_range')),
    sa.CheckConstraint('staff_count IS NULL OR staff_count >= 0', name=op.f('ck_sites_staff_count_nonneg')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites'))
    )
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sites_code'), ['code'], unique=True)
        batch_op.create_index(batch_op.f('ix_sites_region'), ['region'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.Enum('admin', 'change_lead', 'staff', 'analyst', name='role', native_enum=False), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('locale', sa.String(length=10), nullable=True),
    sa.Column('is_active_account', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_users_site_id_sites'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_email'), ['email'], unique=True)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_api_tokens_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_prefix'), ['prefix'], unique=False)

    op.create_table('pilots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('change_description', sa.Text(), nullable=True),
    sa.Column('hypothesis', sa.Text(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('draft', 'running', 'analysing', 'decided', 'rolling_out', 'done', name='pilotstatus', native_enum=False), nullable=False),
    sa.Column('pre_start', sa.Date(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('alpha', sa.Double(), nullable=False),
    sa.Column('min_effect', sa.Double(), nullable=True),
    sa.Column('wizard_step', sa.Integer(), nullable=False),
    sa.Column('design_locked_at', sa.DateTime(), nullable=True),
    sa.Column('retros_visible_to_staff', sa.Boolean(), nullable=False),
    sa.Column('decision', sa.Enum('roll_out', 'extend', 'stop', name='decision', native_enum=False), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decision_report_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('alpha > 0 AND alpha < 0.5', name=op.f('ck_pilots_alpha_range')),
    sa.CheckConstraint('end_date IS NULL OR start_date IS NULL OR start_date <= end_date', name=op.f('ck_pilots_start_before_end')),
    sa.CheckConstraint('pre_start IS NULL OR start_date IS NULL OR pre_start < start_date', name=op.f('ck_pilots_pre_before_start')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_pilots_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pilots'))
    )
    with op.batch_alter_table('pilots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pilots_status'), ['status'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pilot_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('arm', sa.Enum('pilot', 'control', name='arm', native_enum=False), nullable=False),
    sa.Column('method', sa.Enum('proposed', 'random_stratified', 'matched', 'manual', name='assignmentmethod', native_enum=False), nullable=False),
    sa.Column('stratum', sa.String(length=80), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_assignments_pilot_id_pilots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_assignments_site_id_sites'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments')),
    sa.UniqueConstraint('pilot_id', 'site_id', name=op.f('uq_assignments_pilot_id_site_id'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('entity_type', sa.String(length=40), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('pilot_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('is_deviation', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_audit_events_pilot_id_pilots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_events_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_entity', ['entity_type', 'entity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_pilot_id'), ['pilot_id'], unique=False)

    op.create_table('feedback_forms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pilot_id', sa.Integer(), nullable=False),
    sa.Column('audience', sa.Enum('customer', 'staff', name='audience', native_enum=False), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('title_zh', sa.String(length=200), nullable=False),
    sa.Column('intro_en', sa.Text(), nullable=True),
    sa.Column('intro_zh', sa.Text(), nullable=True),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_feedback_forms_pilot_id_pilots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_forms')),
    sa.UniqueConstraint('pilot_id', 'audience', 'version', name=op.f('uq_feedback_forms_pilot_id_audience_version'))
    )
    op.create_table('form_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('pilot_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('audience', sa.Enum('customer', 'staff', name='audience', native_enum=False), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_form_links_pilot_id_pilots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_form_links_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_links')),
    sa.UniqueConstraint('token', name=op.f('uq_form_links_token'))
    )
    with op.batch_alter_table('form_links', schema=None) as batch_op:
        batch_op.create_index('ix_form_links_pilot_site', ['pilot_id', 'site_id', 'audience'], unique=False)

    op.create_table('import_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('api_token_id', sa.Integer(), nullable=True),
    sa.Column('pilot_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('rows_inserted', sa.Integer(), nullable=False),
    sa.Column('rows_updated', sa.Integer(), nullable=False),
    sa.Column('rows_unchanged', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['api_token_id'], ['api_tokens.id'], name=op.f('fk_import_batches_api_token_id_api_tokens'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_import_batches_pilot_id_pilots'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_import_batches_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batches'))
    )
    op.create_table('pilot_metrics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pilot_id', sa.Integer(), nullable=False),
    sa.Column('metric_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('primary', 'guardrail', 'secondary', name='metricrole', native_enum=False), nullable=False),
    sa.Column('margin', sa.Double(), nullable=True),
    sa.Column('min_effect', sa.Double(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['metric_id'], ['metrics.id'], name=op.f('fk_pilot_metrics_metric_id_metrics'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_pilot_metrics_pilot_id_pilots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pilot_metrics')),
    sa.UniqueConstraint('pilot_id', 'metric_id', name=op.f('uq_pilot_metrics_pilot_id_metric_id'))
    )
    op.create_table('reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pilot_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('is_exploration', sa.Boolean(), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('data_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('engine_version', sa.String(length=20), nullable=True),
    sa.Column('results', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('status', sa.Enum('computing', 'draft', 'changes_requested', 'approved', 'failed', name='reportstatus', native_enum=False), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(), nullable=True),
    sa.Column('review_comment', sa.Text(), nullable=True),
    sa.Column('progress', sa.Integer(), server_default='0', nullable=False),
    sa.Column('progress_step', sa.String(length=80), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('results_digest', sa.String(length=64), nullable=True),
    sa.Column('inputs_archive', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_reports_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_reports_pilot_id_pilots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_reports_reviewer_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_pilot_id'), ['pilot_id'], unique=False)

    # pilots and reports point at each other: the pilot's decision cites an approved report.
    with op.batch_alter_table('pilots', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_pilots_decision_report_id_reports'), 'reports',
                                    ['decision_report_id'], ['id'], ondelete='SET NULL')

    op.create_table('retrospectives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pilot_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('format', sa.Enum('well_problems_ideas', 'start_stop_continue', name='retroformat', native_enum=False), nullable=False),
    sa.Column('facilitator_id', sa.Integer(), nullable=True),
    sa.Column('attendees', sa.Text(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['facilitator_id'], ['users.id'], name=op.f('fk_retrospectives_facilitator_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_retrospectives_pilot_id_pilots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retrospectives')),
    sa.UniqueConstraint('pilot_id', 'date', name=op.f('uq_retrospectives_pilot_id_date'))
    )
    op.create_table('rollout_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pilot_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.Enum('draft', 'active', 'done', 'cancelled', name='planstatus', native_enum=False), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('sites_per_week', sa.Double(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_rollout_plans_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_rollout_plans_pilot_id_pilots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollout_plans'))
    )
    with op.batch_alter_table('rollout_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollout_plans_pilot_id'), ['pilot_id'], unique=False)

    op.create_table('action_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pilot_id', sa.Integer(), nullable=False),
    sa.Column('retro_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('open', 'in_progress', 'done', 'dropped', name='actionstatus', native_enum=False), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('created_on', sa.Date(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_action_items_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_action_items_pilot_id_pilots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['retro_id'], ['retrospectives.id'], name=op.f('fk_action_items_retro_id_retrospectives'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_items'))
    )
    with op.batch_alter_table('action_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_items_pilot_id'), ['pilot_id'], unique=False)

    op.create_table('adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pilot_id', sa.Integer(), nullable=False),
    sa.Column('retro_id', sa.Integer(), nullable=True),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('scope', sa.Enum('all_pilot_sites', 'selected_sites', 'condition', name='adjustmentscope', native_enum=False), nullable=False),
    sa.Column('condition', sa.JSON(), nullable=True),
    sa.Column('is_reusable_practice', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_adjustments_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_adjustments_pilot_id_pilots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['retro_id'], ['retrospectives.id'], name=op.f('fk_adjustments_retro_id_retrospectives'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adjustments'))
    )
    with op.batch_alter_table('adjustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adjustments_pilot_id'), ['pilot_id'], unique=False)

    op.create_table('feedback_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('form_id', sa.Integer(), nullable=False),
    sa.Column('pilot_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.Column('audience', sa.Enum('customer', 'staff', name='audience', native_enum=False), nullable=False),
    sa.Column('channel', sa.Enum('qr', 'logged_in', 'import', name='responsechannel', native_enum=False), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.Column('respondent_id', sa.Integer(), nullable=True),
    sa.Column('segment', sa.String(length=30), nullable=True),
    sa.Column('language', sa.String(length=10), nullable=True),
    sa.Column('idempotency_key', sa.String(length=64), nullable=True),
    sa.Column('is_flagged_negative', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['form_id'], ['feedback_forms.id'], name=op.f('fk_feedback_responses_form_id_feedback_forms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['link_id'], ['form_links.id'], name=op.f('fk_feedback_responses_link_id_form_links'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pilot_id'], ['pilots.id'], name=op.f('fk_feedback_responses_pilot_id_pilots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['respondent_id'], ['users.id'], name=op.f('fk_feedback_responses_respondent_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_feedback_responses_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_responses')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_feedback_responses_idempotency_key'))
    )
    with op.batch_alter_table('feedback_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_responses_pilot_id'), ['pilot_id'], unique=False)
        batch_op.create_index('ix_feedback_responses_site_time', ['site_id', 'submitted_at'], unique=False)

    op.create_table('mentor_pairs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('mentor_site_id', sa.Integer(), nullable=True),
    sa.Column('mentor_user_id', sa.Integer(), nullable=True),
    sa.Column('mentee_site_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['mentee_site_id'], ['sites.id'], name=op.f('fk_mentor_pairs_mentee_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mentor_site_id'], ['sites.id'], name=op.f('fk_mentor_pairs_mentor_site_id_sites'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['mentor_user_id'], ['users.id'], name=op.f('fk_mentor_pairs_mentor_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['rollout_plans.id'], name=op.f('fk_mentor_pairs_plan_id_rollout_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mentor_pairs')),
    sa.UniqueConstraint('plan_id', 'mentee_site_id', name=op.f('uq_mentor_pairs_plan_id_mentee_site_id'))
    )
    op.create_table('observations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('metric_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('value', sa.Double(), nullable=False),
    sa.Column('denominator', sa.Double(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name=op.f('fk_observations_batch_id_import_batches'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['metric_id'], ['metrics.id'], name=op.f('fk_observations_metric_id_metrics'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_observations_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_observations')),
    sa.UniqueConstraint('site_id', 'date', 'metric_id', name=op.f('uq_observations_site_id_date_metric_id'))
    )
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.create_index('ix_observations_metric_date', ['metric_id', 'date'], unique=False)

    op.create_table('retro_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('retro_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['retro_id'], ['retrospectives.id'], name=op.f('fk_retro_items_retro_id_retrospectives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retro_items'))
    )
    op.create_table('waves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('planned', 'live', 'passed', 'held', 'failed', name='wavestatus', native_enum=False), nullable=False),
    sa.Column('gate', sa.JSON(), nullable=False),
    sa.Column('gate_result', sa.JSON(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('start_date <= end_date', name=op.f('ck_waves_dates_ordered')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_waves_decided_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['rollout_plans.id'], name=op.f('fk_waves_plan_id_rollout_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waves')),
    sa.UniqueConstraint('plan_id', 'number', name=op.f('uq_waves_plan_id_number'))
    )
    op.create_table('adjustment_sites',
    sa.Column('adjustment_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['adjustment_id'], ['adjustments.id'], name=op.f('fk_adjustment_sites_adjustment_id_adjustments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_adjustment_sites_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('adjustment_id', 'site_id', name=op.f('pk_adjustment_sites'))
    )
    op.create_table('feedback_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('question_key', sa.String(length=40), nullable=False),
    sa.Column('question_type', sa.Enum('rating', 'nps', 'single_choice', 'multi_choice', 'yes_no', 'text', name='questiontype', native_enum=False), nullable=False),
    sa.Column('value_num', sa.Double(), nullable=True),
    sa.Column('value_text', sa.Text(), nullable=True),
    sa.Column('value_choices', sa.JSON(), nullable=True),
    sa.CheckConstraint('value_num IS NULL OR (value_num BETWEEN 0 AND 10)', name=op.f('ck_feedback_answers_value_range')),
    sa.ForeignKeyConstraint(['response_id'], ['feedback_responses.id'], name=op.f('fk_feedback_answers_response_id_feedback_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_answers')),
    sa.UniqueConstraint('response_id', 'question_key', name=op.f('uq_feedback_answers_response_id_question_key'))
    )
    op.create_table('observation_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('observation_id', sa.Integer(), nullable=False),
    sa.Column('old_value', sa.Double(), nullable=False),
    sa.Column('new_value', sa.Double(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name=op.f('fk_observation_revisions_batch_id_import_batches'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['observation_id'], ['observations.id'], name=op.f('fk_observation_revisions_observation_id_observations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_observation_revisions'))
    )
    with op.batch_alter_table('observation_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_observation_revisions_observation_id'), ['observation_id'], unique=False)

    op.create_table('retro_item_responses',
    sa.Column('retro_item_id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['feedback_responses.id'], name=op.f('fk_retro_item_responses_response_id_feedback_responses'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['retro_item_id'], ['retro_items.id'], name=op.f('fk_retro_item_responses_retro_item_id_retro_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('retro_item_id', 'response_id', name=op.f('pk_retro_item_responses'))
    )
    op.create_table('retro_item_sites',
    sa.Column('retro_item_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['retro_item_id'], ['retro_items.id'], name=op.f('fk_retro_item_sites_retro_item_id_retro_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_retro_item_sites_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('retro_item_id', 'site_id', name=op.f('pk_retro_item_sites'))
    )
    op.create_table('wave_sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('wave_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('is_holdback', sa.Boolean(), nullable=False),
    sa.Column('go_live_date', sa.Date(), nullable=True),
    sa.Column('capacity_load', sa.Double(), nullable=True),
    sa.Column('readiness_score', sa.Double(), nullable=True),
    sa.Column('readiness_tier', sa.String(length=20), nullable=True),
    sa.Column('predicted_effect', sa.Double(), nullable=True),
    sa.Column('predicted_low', sa.Double(), nullable=True),
    sa.Column('predicted_high', sa.Double(), nullable=True),
    sa.Column('is_extrapolation', sa.Boolean(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('checklist', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['rollout_plans.id'], name=op.f('fk_wave_sites_plan_id_rollout_plans'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_wave_sites_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['wave_id'], ['waves.id'], name=op.f('fk_wave_sites_wave_id_waves'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wave_sites')),
    sa.UniqueConstraint('plan_id', 'site_id', name=op.f('uq_wave_sites_plan_id_site_id'))
    )
    op.create_table('comment_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('answer_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=60), nullable=False),
    sa.Column('is_automatic', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['feedback_answers.id'], name=op.f('fk_comment_tags_answer_id_feedback_answers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comment_tags')),
    sa.UniqueConstraint('answer_id', 'tag', name=op.f('uq_comment_tags_answer_id_tag'))
    )
    with op.batch_alter_table('comment_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_comment_tags_tag'), ['tag'], unique=False)



def downgrade():
    with op.batch_alter_table('pilots', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_pilots_decision_report_id_reports'), type_='foreignkey')

    with op.batch_alter_table('comment_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_comment_tags_tag'))

    op.drop_table('comment_tags')
    op.drop_table('wave_sites')
    op.drop_table('retro_item_sites')
    op.drop_table('retro_item_responses')
    with op.batch_alter_table('observation_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_observation_revisions_observation_id'))

    op.drop_table('observation_revisions')
    op.drop_table('feedback_answers')
    op.drop_table('adjustment_sites')
    op.drop_table('waves')
    op.drop_table('retro_items')
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_index('ix_observations_metric_date')

    op.drop_table('observations')
    op.drop_table('mentor_pairs')
    with op.batch_alter_table('feedback_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_responses_site_time')
        batch_op.drop_index(batch_op.f('ix_feedback_responses_pilot_id'))

    op.drop_table('feedback_responses')
    with op.batch_alter_table('adjustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adjustments_pilot_id'))

    op.drop_table('adjustments')
    with op.batch_alter_table('action_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_items_pilot_id'))

    op.drop_table('action_items')
    with op.batch_alter_table('rollout_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollout_plans_pilot_id'))

    op.drop_table('rollout_plans')
    op.drop_table('retrospectives')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_pilot_id'))

    op.drop_table('reports')
    op.drop_table('pilot_metrics')
    op.drop_table('import_batches')
    with op.batch_alter_table('form_links', schema=None) as batch_op:
        batch_op.drop_index('ix_form_links_pilot_site')

    op.drop_table('form_links')
    op.drop_table('feedback_forms')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_pilot_id'))
        batch_op.drop_index('ix_audit_events_entity')

    op.drop_table('audit_events')
    op.drop_table('assignments')
    with op.batch_alter_table('pilots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pilots_status'))

    op.drop_table('pilots')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_prefix'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_email'))

    op.drop_table('users')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sites_region'))
        batch_op.drop_index(batch_op.f('ix_sites_code'))

    op.drop_table('sites')
    with op.batch_alter_table('metrics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metrics_key'))

    op.drop_table('metrics')
