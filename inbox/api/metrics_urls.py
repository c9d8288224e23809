from django.urls import path

from inbox.api import metrics_views as views

urlpatterns = [
    path("responsiveness/", views.ResponsivenessView.as_view(), name="metrics-responsiveness"),
    path("agents/", views.AgentsView.as_view(), name="metrics-agents"),
    path("teams/", views.TeamsView.as_view(), name="metrics-teams"),
    path("trend/", views.TrendView.as_view(), name="metrics-trend"),
    path("heatmap/", views.HeatmapView.as_view(), name="metrics-heatmap"),
    path("breakers/", views.BreakersView.as_view(), name="metrics-breakers"),
    path("at-risk/", views.AtRiskView.as_view(), name="metrics-at-risk"),
    path("export.csv", views.ExportView.as_view(), name="metrics-export"),
]
