"""SLA policies and automation rules (issue 20): the policy, its clocks and alerts; rules and their
runs; the conversation's priority and live SLA state (`sla_next_due_at`, indexed for the SLA views).

The default rules (reopen when the customer writes, wake snoozed conversations, resolve after days
without a customer reply) are ensured after every migrate by inbox.rules.defaults (post_migrate).
"""

import django.core.serializers.json
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("inbox", "0013_order_actions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='conversation',
            name='priority',
            field=models.CharField(choices=[('low', 'Low'), ('normal', 'Normal'), ('high', 'High'), ('urgent', 'Urgent')], default='normal', max_length=8),
        ),
        migrations.AddField(
            model_name='conversation',
            name='sla_next_due_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='conversation',
            name='sla_policy_source',
            field=models.CharField(blank=True, default='', max_length=8),
        ),
        migrations.AddField(
            model_name='conversation',
            name='sla_state',
            field=models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder),
        ),
        migrations.AlterField(
            model_name='conversationevent',
            name='kind',
            field=models.CharField(choices=[('assigned', 'Assigned'), ('status', 'Status changed'), ('team', 'Team changed'), ('labels', 'Labels changed'), ('window', 'Window closed'), ('macro', 'Macro applied'), ('csat', 'Satisfaction rating'), ('order_action', 'Order action'), ('priority', 'Priority changed'), ('sla', 'SLA policy changed')], max_length=16),
        ),
        migrations.AlterField(
            model_name='notification',
            name='kind',
            field=models.CharField(choices=[('mention', 'Mentioned in a note'), ('assignment', 'Assigned a conversation'), ('sla_warning', 'SLA target due soon'), ('sla_breach', 'SLA target breached'), ('rule', 'Automation rule')], max_length=16),
        ),
        migrations.CreateModel(
            name='Rule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('active', models.BooleanField(default=True)),
                ('position', models.PositiveIntegerField(default=100)),
                ('trigger', models.CharField(max_length=32)),
                ('delay_seconds', models.PositiveIntegerField(blank=True, null=True)),
                ('conditions', models.JSONField(blank=True, default=list)),
                ('actions', models.JSONField(blank=True, default=list)),
                ('key', models.CharField(blank=True, default='', max_length=40)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['position', 'id'],
            },
        ),
        migrations.CreateModel(
            name='RuleRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('trigger', models.CharField(max_length=32)),
                ('event_key', models.CharField(max_length=120)),
                ('status', models.CharField(choices=[('done', 'Done'), ('skipped', 'Skipped'), ('failed', 'Failed (rolled back)')], max_length=8)),
                ('reason', models.CharField(blank=True, max_length=500)),
                ('actions', models.JSONField(blank=True, default=list, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ('depth', models.PositiveSmallIntegerField(default=0)),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('conversation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='rule_runs', to='inbox.conversation')),
                ('rule', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='runs', to='inbox.rule')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='SlaClock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('target', models.CharField(choices=[('first_response', 'First response'), ('next_response', 'Next response'), ('resolution', 'Resolution')], max_length=16)),
                ('started_at', models.DateTimeField()),
                ('due_at', models.DateTimeField()),
                ('warn_at', models.DateTimeField()),
                ('met_at', models.DateTimeField(blank=True, null=True)),
                ('stopped_at', models.DateTimeField(blank=True, null=True)),
                ('warning_sent', models.BooleanField(default=False)),
                ('breach_sent', models.BooleanField(default=False)),
                ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sla_clocks', to='inbox.conversation')),
                ('met_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['started_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='SlaAlert',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('target', models.CharField(choices=[('first_response', 'First response'), ('next_response', 'Next response'), ('resolution', 'Resolution')], max_length=16)),
                ('kind', models.CharField(choices=[('warning', 'Due soon'), ('breach', 'Breached')], max_length=8)),
                ('recipients', models.JSONField(blank=True, default=list)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='inbox.conversation')),
                ('clock', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='inbox.slaclock')),
            ],
        ),
        migrations.CreateModel(
            name='SlaPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('active', models.BooleanField(default=True)),
                ('first_response_seconds', models.PositiveIntegerField(blank=True, null=True)),
                ('next_response_seconds', models.PositiveIntegerField(blank=True, null=True)),
                ('resolution_seconds', models.PositiveIntegerField(blank=True, null=True)),
                ('business_hours', models.BooleanField(default=False, help_text="Count only the inbox's business hours")),
                ('warn_before_seconds', models.PositiveIntegerField(default=900)),
                ('inboxes', models.JSONField(blank=True, default=list)),
                ('channels', models.JSONField(blank=True, default=list)),
                ('labels', models.JSONField(blank=True, default=list)),
                ('customer_tags', models.JSONField(blank=True, default=list)),
                ('notify_assignee', models.BooleanField(default=True)),
                ('notify_leads', models.BooleanField(default=True)),
                ('notify_users', models.JSONField(blank=True, default=list)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name_plural': 'SLA policies',
                'ordering': ['name', 'id'],
            },
        ),
        migrations.AddField(
            model_name='slaclock',
            name='policy',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='inbox.slapolicy'),
        ),
        migrations.AddField(
            model_name='conversation',
            name='sla_policy',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='conversations', to='inbox.slapolicy'),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(models.OrderBy(models.F('sla_next_due_at'), nulls_last=True), models.OrderBy(models.F('id')), name='conv_sla_due'),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(condition=models.Q(('waiting_since__isnull', False)), fields=['waiting_since'], name='conv_waiting'),
        ),
        migrations.AddIndex(
            model_name='rule',
            index=models.Index(condition=models.Q(('active', True)), fields=['trigger', 'position', 'id'], name='rule_active'),
        ),
        migrations.AddConstraint(
            model_name='rule',
            constraint=models.UniqueConstraint(condition=models.Q(('key', ''), _negated=True), fields=('key',), name='rule_unique_key'),
        ),
        migrations.AddIndex(
            model_name='rulerun',
            index=models.Index(fields=['rule', '-created_at'], name='rule_run_rule'),
        ),
        migrations.AddIndex(
            model_name='rulerun',
            index=models.Index(fields=['conversation', '-created_at'], name='rule_run_conversation'),
        ),
        migrations.AddConstraint(
            model_name='rulerun',
            constraint=models.UniqueConstraint(fields=('rule', 'conversation', 'event_key'), name='rule_run_once'),
        ),
        migrations.AddConstraint(
            model_name='slaalert',
            constraint=models.UniqueConstraint(fields=('clock', 'kind'), name='sla_alert_once'),
        ),
        migrations.AddIndex(
            model_name='slaclock',
            index=models.Index(condition=models.Q(('met_at__isnull', True), ('stopped_at__isnull', True), ('warning_sent', False)), fields=['warn_at'], name='sla_clock_warn_due'),
        ),
        migrations.AddIndex(
            model_name='slaclock',
            index=models.Index(condition=models.Q(('breach_sent', False), ('met_at__isnull', True), ('stopped_at__isnull', True)), fields=['due_at'], name='sla_clock_breach_due'),
        ),
        migrations.AddIndex(
            model_name='slaclock',
            index=models.Index(fields=['started_at'], name='sla_clock_started'),
        ),
        migrations.AddConstraint(
            model_name='slaclock',
            constraint=models.UniqueConstraint(fields=('conversation', 'target', 'started_at'), name='sla_clock_once'),
        ),
    ]
